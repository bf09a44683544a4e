"""Resource names of an environment, exactly as the Terraform deployment names them (`deployment/locals.tf`)."""

from __future__ import annotations

from dataclasses import dataclass

PROJECT = "wspush"
LOCAL_WORKSPACE = "local"
MOTO_ACCOUNT_ID = "123456789012"
"""moto's default account: the local stack's resources live in it."""
DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class StackNames:
    """`<project>-<workspace>` and everything named after it."""

    workspace: str = LOCAL_WORKSPACE
    account_id: str = MOTO_ACCOUNT_ID
    region: str = DEFAULT_REGION

    @property
    def name(self) -> str:
        return f"{PROJECT}-{self.workspace}"

    @property
    def api(self) -> str:
        return f"{self.name}-api"

    @property
    def function(self) -> str:
        return f"{self.name}-handler"

    @property
    def role(self) -> str:
        return f"{self.name}-handler"

    @property
    def topic(self) -> str:
        return f"{self.name}-push"

    @property
    def bucket(self) -> str:
        return f"{self.name}-connections-{self.account_id}"

    @property
    def connect_token_parameter(self) -> str:
        """The SSM parameter of the connect token (auth mode token), as deployment/auth.tf names it."""
        return f"/{self.name}/connect-token"

    @property
    def table(self) -> str:
        """The DynamoDB store's table (deployment/locals.tf: `<project>-<workspace>-connections`)."""
        return f"{self.name}-connections"

    @property
    def dead_letter_queue(self) -> str:
        """The SQS queue of failed asynchronous events and undeliverable SNS messages (deployment/dead_letters.tf)."""
        return f"{self.name}-dead-letters"

    @property
    def lambda_log_group(self) -> str:
        return f"/aws/lambda/{self.function}"

    @property
    def api_log_group(self) -> str:
        return f"/aws/apigateway/{self.api}"

    @property
    def topic_arn(self) -> str:
        return f"arn:aws:sns:{self.region}:{self.account_id}:{self.topic}"

    @property
    def function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.function}"

    @property
    def role_arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:role/{self.role}"
