"""Local test stack: Azurite plus stand-ins for managed identity, Key Vault and Adobe.

Everything runs on 127.0.0.1 on free ports, in background threads of the calling process
(Azurite as a child process). See :class:`devstack.stack.LocalStack`. Modules are imported
where used (nothing here), so a worker process that needs only `devstack.host` stays light.
"""
