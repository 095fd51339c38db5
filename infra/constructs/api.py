"""API: the REST API. `/v1/*` (the admin API) behind a JWT authorizer (the stack's Cognito user
pool, or any OIDC issuer through a token authorizer); `/webhooks/{connection_id}` public, since HR
systems cannot carry our tokens (their signatures are verified by the handler), but throttled;
`/portal/*` (the admin portal) without an authorizer too: the admin API's function checks the
portal's session cookie and CSRF token itself.
Access logs, execution logs without bodies, X-Ray, request size limits and per-IP rate limits (WAF).
"""

from __future__ import annotations

import json

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from infra.catalog import API_AUTHORIZER
from infra.config import ConfigError, DeployConfig
from infra.constants import (
    ADMIN_GROUP,
    ADMIN_IMPORT_PATH,
    ADMIN_MAX_BODY_BYTES,
    API_THROTTLE_BURST,
    API_THROTTLE_RATE,
    APP_NAME,
    LOG_RETENTION,
    WAF_BODY_INSPECTION_LIMIT,
    WEBHOOK_RATE_LIMIT_PER_IP,
    WEBHOOK_THROTTLE_BURST,
    WEBHOOK_THROTTLE_RATE,
)
from infra.nag import acknowledge

WEBHOOK_PATH = "/webhooks/{connection_id}"
OAUTH_CALLBACK_PATH = "/oauth/callback"  # functions.admin_api.routers.oauth.CALLBACK_PATH
PORTAL_PATH = "/portal"
_ERROR_TEMPLATE = json.dumps(
    {"error": {"code": "$context.error.responseType", "message": "$context.error.message", "details": {}}}
)


class Api(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeployConfig,
        admin_api: lambda_.IFunction | None,
        webhook_ingest: lambda_.IFunction | None,
        token_verifier: lambda_.IFunction | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.rest_api: apigw.RestApi | None = None
        # The API's own origin (where the portal is served): a return URL the portal's OAuth
        # journey comes back to, allowed without being listed in ``oauth_return_origins``.
        self.origin: str | None = None
        self.user_pool: cognito.UserPool | None = None
        if admin_api is None and webhook_ingest is None:
            return  # nothing to serve yet
        prefix = f"{APP_NAME}-{config.stage}"
        access_logs = logs.LogGroup(
            self, "AccessLogs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY
        )
        api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name=prefix,
            description="hris-sync: admin API (/v1) and HR systems' webhooks",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            deploy_options=apigw.StageOptions(
                stage_name=config.stage,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=False,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=False,
                ),
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # bodies carry credentials and personal data
                metrics_enabled=True,
                tracing_enabled=True,
                throttling_rate_limit=API_THROTTLE_RATE,
                throttling_burst_limit=API_THROTTLE_BURST,
                method_options={
                    f"{WEBHOOK_PATH}/POST": apigw.MethodDeploymentOptions(
                        throttling_rate_limit=WEBHOOK_THROTTLE_RATE,
                        throttling_burst_limit=WEBHOOK_THROTTLE_BURST,
                    )
                },
            ),
        )
        self.rest_api = api
        cloud_watch_role = api.node.find_child("CloudWatchRole")
        acknowledge(
            cloud_watch_role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonAPIGatewayPushToCloudWatchLogs]",
            "API Gateway's account-wide logging role: AWS's managed policy is the documented minimum",
        )
        for response_type in (apigw.ResponseType.DEFAULT_4_XX, apigw.ResponseType.DEFAULT_5_XX):
            api.add_gateway_response(
                f"Gateway{response_type.response_type}",
                type=response_type,
                templates={"application/json": _ERROR_TEMPLATE},
            )
        validator = api.add_request_validator(
            "Validator",
            request_validator_name=f"{prefix}-requests",
            validate_request_parameters=True,
            validate_request_body=True,  # applies where a method declares a body model
        )

        if admin_api is not None:
            authorizer = self._authorizer(config, token_verifier)
            cors = (
                apigw.CorsOptions(
                    allow_origins=list(config.cors_origins),
                    allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
                    allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
                    max_age=Duration.hours(1),
                )
                if config.cors_origins
                else None
            )
            v1 = api.root.add_resource("v1", default_cors_preflight_options=cors)
            proxy = v1.add_proxy(any_method=False)
            proxy.add_method(
                "ANY",
                apigw.LambdaIntegration(admin_api),
                authorizer=authorizer,
                authorization_type=authorizer.authorization_type,
                request_validator=validator,
                request_parameters={"method.request.path.proxy": True},
            )
            # The API's documentation is public, so a browser can open it: Swagger UI and the
            # OpenAPI document hold no tenant data (the document is docs/openapi.json of the
            # repository); "Try it out" still needs a token, pasted into Swagger UI's Authorize.
            for part in ("docs", "openapi.json"):
                page = v1.add_resource(part).add_method(
                    "GET",
                    apigw.LambdaIntegration(admin_api),
                    authorization_type=apigw.AuthorizationType.NONE,
                )
                for rule in ("AwsSolutions-APIG4", "AwsSolutions-COG4"):
                    acknowledge(
                        page,
                        rule,
                        "The API's documentation (Swagger UI, the OpenAPI document): public by "
                        "design, no tenant data; every other /v1 route is behind the authorizer",
                    )
            # OAuth connect's callback: the vendor sends the admin's browser here with a code and
            # the state, and no token of ours. Only this one route (GET) is public; the admin API
            # function serves it (it holds the state store and the OAuth apps the start used).
            callback = (
                api.root.add_resource("oauth")
                .add_resource("callback")
                .add_method(
                    "GET",
                    apigw.LambdaIntegration(admin_api),
                    authorization_type=apigw.AuthorizationType.NONE,
                )
            )
            for rule in ("AwsSolutions-APIG4", "AwsSolutions-COG4"):
                acknowledge(
                    callback,
                    rule,
                    "OAuth's redirect carries no token of ours: the handler accepts only a state it "
                    "issued to an authenticated admin (random, single use, minutes), and redirects "
                    "only to the return URL validated then",
                )
            self._portal(api, admin_api)
            stack = Stack.of(self)
            self.origin = f"https://{api.rest_api_id}.execute-api.{stack.region}.{stack.url_suffix}"
            if cors is not None:
                for rule in ("AwsSolutions-APIG4", "AwsSolutions-COG4"):
                    acknowledge(
                        v1,
                        rule,
                        "CORS preflight (OPTIONS) requests carry no credentials by the Fetch standard",
                    )
        if webhook_ingest is not None:
            webhooks = api.root.add_resource("webhooks").add_resource("{connection_id}")
            method = webhooks.add_method(
                "POST",
                apigw.LambdaIntegration(webhook_ingest),
                authorization_type=apigw.AuthorizationType.NONE,
                request_validator=validator,
                request_parameters={"method.request.path.connection_id": True},
            )
            for rule in ("AwsSolutions-APIG4", "AwsSolutions-COG4"):
                acknowledge(
                    method,
                    rule,
                    "HR systems cannot send our tokens: the handler verifies each provider's signature "
                    "over the raw body (401 otherwise); the route is throttled and rate-limited per IP",
                )
        self._firewall(api, prefix)

    def _portal(self, api: apigw.RestApi, admin_api: lambda_.IFunction) -> None:
        """``/portal`` and ``/portal/{proxy+}``: the admin portal, served by the admin API's own
        function on the API's own origin (its page, its assets, and the admin API under
        ``/portal/api/v1``). No authorizer: a browser has no bearer token; the function checks the
        portal session cookie (HttpOnly, SameSite=Strict) and, on writes, the CSRF token itself."""
        portal = api.root.add_resource(PORTAL_PATH.strip("/"))
        methods = [
            portal.add_method(
                "GET", apigw.LambdaIntegration(admin_api), authorization_type=apigw.AuthorizationType.NONE
            ),
            portal.add_proxy(any_method=False).add_method(
                "ANY",
                apigw.LambdaIntegration(admin_api),
                authorization_type=apigw.AuthorizationType.NONE,
                request_parameters={"method.request.path.proxy": True},
            ),
        ]
        for method in methods:
            for rule in ("AwsSolutions-APIG4", "AwsSolutions-COG4"):
                acknowledge(
                    method,
                    rule,
                    "The admin portal: a browser carries no bearer token; the function itself checks "
                    "the portal session (a one-time link's HttpOnly SameSite=Strict cookie, stored "
                    "hashed) and a CSRF token on every write; without them every call is 401/403",
                )

    def _authorizer(
        self, config: DeployConfig, token_verifier: lambda_.IFunction | None
    ) -> apigw.IAuthorizer:
        if not config.uses_cognito:
            if token_verifier is None:
                raise ConfigError(
                    f"oidc_issuer is set but functions/{API_AUTHORIZER.name}/handler.py does not exist: "
                    "the admin API would have no authorizer"
                )
            acknowledge(
                self,
                "AwsSolutions-COG4",
                "The admins' tokens come from the deployment's own OIDC issuer, verified by a token "
                "authorizer (issuer, audience, signature, expiry), not from a Cognito user pool",
            )
            return apigw.TokenAuthorizer(
                self,
                "TokenAuthorizer",
                handler=token_verifier,
                identity_source=apigw.IdentitySource.header("Authorization"),
                validation_regex=r"^Bearer [-0-9A-Za-z._~+/]+=*$",
                results_cache_ttl=Duration.minutes(5),
            )
        pool = cognito.UserPool(
            self,
            "Admins",
            user_pool_name=f"{APP_NAME}-{config.stage}-admins",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            custom_attributes={"tenant_id": cognito.StringAttribute(min_len=1, max_len=64, mutable=False)},
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_digits=True,
                require_lowercase=True,
                require_uppercase=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            feature_plan=cognito.FeaturePlan.ESSENTIALS,
            deletion_protection=config.removal == "retain",
            removal_policy=RemovalPolicy.RETAIN if config.removal == "retain" else RemovalPolicy.DESTROY,
        )
        for rule in ("AwsSolutions-COG3", "AwsSolutions-COG8"):
            acknowledge(
                pool,
                rule,
                "Threat protection needs Cognito's Plus plan (priced per user); MFA is required instead",
            )
        pool.add_client(
            "AdminUi",
            auth_flows=cognito.AuthFlow(user_srp=True),
            generate_secret=False,
            prevent_user_existence_errors=True,
            access_token_validity=Duration.hours(1),
            id_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.days(30),
        )
        cognito.CfnUserPoolGroup(
            self,
            "AdminGroup",
            user_pool_id=pool.user_pool_id,
            group_name=ADMIN_GROUP,
            description="May change connections and members (reads need only a tenant)",
        )
        self.user_pool = pool
        return apigw.CognitoUserPoolsAuthorizer(
            self,
            "Authorizer",
            cognito_user_pools=[pool],
            identity_source=apigw.IdentitySource.header("Authorization"),
            results_cache_ttl=Duration.minutes(5),
        )

    def _firewall(self, api: apigw.RestApi, prefix: str) -> None:
        """WAF on the stage: body size on the admin API, per-IP rate on webhooks, known bad inputs."""

        def visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
            return wafv2.CfnWebACL.VisibilityConfigProperty(
                cloud_watch_metrics_enabled=True,
                metric_name=f"{prefix}-{name}",
                sampled_requests_enabled=True,
            )

        webhook_path = wafv2.CfnWebACL.StatementProperty(
            byte_match_statement=wafv2.CfnWebACL.ByteMatchStatementProperty(
                field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(uri_path={}),
                positional_constraint="CONTAINS",
                search_string="/webhooks/",
                text_transformations=[
                    wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="LOWERCASE")
                ],
            )
        )
        import_path = wafv2.CfnWebACL.StatementProperty(
            byte_match_statement=wafv2.CfnWebACL.ByteMatchStatementProperty(
                field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(uri_path={}),
                positional_constraint="ENDS_WITH",
                search_string=ADMIN_IMPORT_PATH,
                text_transformations=[
                    wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="LOWERCASE")
                ],
            )
        )
        block = wafv2.CfnWebACL.RuleActionProperty(block={})
        body_too_large = wafv2.CfnWebACL.StatementProperty(
            size_constraint_statement=wafv2.CfnWebACL.SizeConstraintStatementProperty(
                comparison_operator="GT",
                size=ADMIN_MAX_BODY_BYTES,
                field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(
                    body=wafv2.CfnWebACL.BodyProperty(oversize_handling="MATCH")
                ),
                text_transformations=[wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")],
            )
        )
        acl = wafv2.CfnWebACL(
            self,
            "Firewall",
            name=f"{prefix}-api",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=visibility("api"),
            association_config=wafv2.CfnWebACL.AssociationConfigProperty(
                request_body={
                    "API_GATEWAY": wafv2.CfnWebACL.RequestBodyAssociatedResourceTypeConfigProperty(
                        default_size_inspection_limit=WAF_BODY_INSPECTION_LIMIT
                    )
                }
            ),
            rules=[
                wafv2.CfnWebACL.RuleProperty(
                    name="admin-body-size",
                    priority=0,
                    action=block,
                    visibility_config=visibility("admin-body-size"),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        and_statement=wafv2.CfnWebACL.AndStatementProperty(
                            statements=[
                                body_too_large,
                                wafv2.CfnWebACL.StatementProperty(
                                    not_statement=wafv2.CfnWebACL.NotStatementProperty(
                                        statement=wafv2.CfnWebACL.StatementProperty(
                                            or_statement=wafv2.CfnWebACL.OrStatementProperty(
                                                statements=[webhook_path, import_path]
                                            )
                                        )
                                    )
                                ),
                            ]
                        )
                    ),
                ),
                wafv2.CfnWebACL.RuleProperty(
                    name="webhook-rate-per-ip",
                    priority=1,
                    action=block,
                    visibility_config=visibility("webhook-rate-per-ip"),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                            aggregate_key_type="IP",
                            limit=WEBHOOK_RATE_LIMIT_PER_IP,
                            evaluation_window_sec=300,
                            scope_down_statement=webhook_path,
                        )
                    ),
                ),
                wafv2.CfnWebACL.RuleProperty(
                    name="known-bad-inputs",
                    priority=2,
                    override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                    visibility_config=visibility("known-bad-inputs"),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                            vendor_name="AWS", name="AWSManagedRulesKnownBadInputsRuleSet"
                        )
                    ),
                ),
            ],
        )
        wafv2.CfnWebACLAssociation(
            self, "FirewallAssociation", resource_arn=api.deployment_stage.stage_arn, web_acl_arn=acl.attr_arn
        )
