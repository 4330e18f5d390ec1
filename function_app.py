"""The Function App: registers the blueprint of `create_connection/`. Nothing else lives here."""

import azure.functions as func

from create_connection import bp

app = func.FunctionApp()
app.register_functions(bp)
