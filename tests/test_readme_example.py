# test_my_books_code.py — your own code, tested against the fake Books (pytest + the zlab plugin)
import httpx
import pytest


def create_customer(api_domain, token, org_id, name):  # the code under test
    r = httpx.post(f"{api_domain}/books/v3/contacts", params={"organization_id": org_id},
                   headers={"Authorization": f"Zoho-oauthtoken {token}"}, json={"contact_name": name})
    r.raise_for_status()
    return r.json()["contact"]["contact_id"]


def test_create_customer(zlab_lab):
    tenant = zlab_lab.tenant(products=["books"])
    cid = create_customer(zlab_lab.url, tenant.token(), tenant.org("books"), "Bowman and Co")
    assert [c["contact_id"] for c in tenant.books().get("/contacts").json()["contacts"]] == [cid]
    with pytest.raises(httpx.HTTPStatusError):  # Zoho's duplicate-name rule (code 3062) holds too
        create_customer(zlab_lab.url, tenant.token(), tenant.org("books"), "Bowman and Co")
