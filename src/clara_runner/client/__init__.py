"""A typed Python client of the Clara Agent Runner API, on httpx2: `DeploymentClient` for blocking code,
`AsyncDeploymentClient` for asyncio, with the methods of Agent Studio's deployment service in snake case.

    from clara_runner.client import DeploymentClient

    with DeploymentClient("http://localhost:3000", admin_key="...") as client:
        deployed = client.deploy_workflow(export, name="Hello World")
        result = client.execute_workflow(deployed["slug"], {"name": "Ada"}, deployed["apiKey"])

It imports nothing of the server, so an application can use it without the server's dependencies.
"""

from clara_runner.client.async_client import AsyncDeploymentClient
from clara_runner.client.blocking import DeploymentClient
from clara_runner.client.errors import CONNECTION_FAILED, UNEXPECTED_RESPONSE, ClaraApiError

__all__ = ["CONNECTION_FAILED", "UNEXPECTED_RESPONSE", "AsyncDeploymentClient", "ClaraApiError", "DeploymentClient"]
