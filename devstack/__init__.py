"""Local test stack: Azurite plus stand-ins for managed identity, Key Vault and Adobe.

Everything runs on 127.0.0.1 on free ports, in background threads of the calling process
(Azurite as a child process). See :class:`devstack.stack.LocalStack`.
"""

from devstack.adobe import AdobeStandIn
from devstack.azurite import Azurite, find_repo_root
from devstack.faults import Fault, FaultPlan, RecordedRequest
from devstack.httpbase import Response, StandInServer
from devstack.identity import IdentityStandIn
from devstack.keyvault import KeyVaultStandIn
from devstack.stack import LocalStack

__all__ = [
    "AdobeStandIn",
    "Azurite",
    "Fault",
    "FaultPlan",
    "IdentityStandIn",
    "KeyVaultStandIn",
    "LocalStack",
    "RecordedRequest",
    "Response",
    "StandInServer",
    "find_repo_root",
]
