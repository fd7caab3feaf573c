"""Imports every module that declares IAM permissions with `@needs`, so that
`permissions.policy_for()` sees all of them (the CDK stack and the policy tests use it)."""

from credfix.adapters import incidents, queues  # noqa: F401
