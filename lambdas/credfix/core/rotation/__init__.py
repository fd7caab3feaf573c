"""The rotation watch: before anything fails, when a watched secret rotates, find who still
holds the old key and restart them (docs/verdicts/rotation-drift.md, docs/rotation.md).

events  -> which secret an event says changed (and the checks it must pass)
secret  -> the truth from Secrets Manager: current and previous versions, their key IDs
consumers -> ECS services, Lambda functions, declared resources; the version each runs
usage   -> the old key's IAM last use and CloudTrail records since the rotation, by address
check   -> one look at a rotation (the CLI's rotation-check and sweep, and the watch)
incident -> the rotation-drift incident for the act step
watch / intake -> the rotation Lambda's step
"""
