"""`credfix preflight`: prove, from inside the workload, which credential source the SDK picks
and whom AWS takes it for, before the workload takes traffic (docs/preflight.md).

- sources: the credential-source audit (botocore's own chain, plus every competing source)
- identity: sts:GetCallerIdentity with short timeouts
- checks: assertions, the field guide's failure modes, verdicts and the exit-code rule
- run: one run end to end; render: human and JSON (`credfix.preflight/v1`) output
"""

from credfix.preflight.checks import Expectations, Finding
from credfix.preflight.run import PreflightReport, run_preflight

__all__ = ["Expectations", "Finding", "PreflightReport", "run_preflight"]
