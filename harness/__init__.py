"""The local AWS harness: moto server, the credfix pipeline wired as in the template, and
realistic CloudTrail records. Used by the tests and `make demo`; never deployed."""
