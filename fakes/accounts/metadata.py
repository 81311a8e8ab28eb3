"""Facts of Zoho Accounts that the fake enforces (RESEARCH-API.md, Accounts).

Sources: Zoho OAuth docs (token lifetime, grant types, ``api_domain``); integrators' reports
for the throttle (10 tokens per 10 minutes per refresh token) and the HTTP 200 error answers.
"""

ACCESS_TOKEN_SECONDS = 3600
THROTTLE_TOKENS = 10  # access tokens per refresh token ...
THROTTLE_WINDOW_SECONDS = 600  # ... per 10 minutes
GRANT_TYPES = ("refresh_token", "authorization_code", "client_credentials")
TOKEN_TYPE = "Bearer"
