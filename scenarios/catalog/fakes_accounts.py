"""Zoho Accounts behaviours scenarios rely on: token expiry on the lab clock, throttling."""

from scenarios.harness import expect, scenario


@scenario("FAKE-AUTH-TOKEN-EXPIRY", "An access token stops working 3600 s (lab time) after it was issued",
          tags=("accounts", "books", "smoke"), exclusive=True)
def token_expiry(lab):
    books = lab.tenant(products=["books"]).books()
    with lab.step("Given a frozen lab clock and a fresh access token"):
        lab.clock.freeze()
        expect(books.get("/contacts").status_code, "a Books call with the token").equals(200)
    with lab.step("When 3599 seconds pass, the token still works"):
        lab.clock.advance(3599)
        expect(books.get("/contacts").status_code, "HTTP status").equals(200)
    with lab.step("Then two seconds later Books answers 401 with code 57"):
        lab.clock.advance(2)
        r = books.get("/contacts")
        expect(r.status_code, "HTTP status").equals(401)
        expect(r.json()["code"], "Books error code").equals(57)
    with lab.step("And a new token from the refresh token works again"):
        books.tenant.token(fresh=True)
        expect(books.get("/contacts").status_code, "HTTP status").equals(200)


@scenario("FAKE-AUTH-THROTTLE", "More than 10 access tokens per refresh token in 10 minutes are refused",
          tags=("accounts", "limits", "edge"), exclusive=True)
def token_throttle(lab):
    t = lab.tenant(products=["books"])
    form = {"grant_type": "refresh_token", "client_id": t.client_id, "client_secret": t.client_secret,
            "refresh_token": t.refresh_token}
    with lab.step("Given a frozen clock"):
        lab.clock.freeze()
    with lab.step("When ten tokens are asked for, all are issued"):
        for i in range(10):
            r = lab.http.post(f"{lab.url}/oauth/v2/token", data=form)
            expect("access_token" in r.json(), f"token #{i + 1} issued").is_true()
    with lab.step("Then the eleventh is refused with 'Access Denied'"):
        r = lab.http.post(f"{lab.url}/oauth/v2/token", data=form)
        expect(r.status_code, "HTTP status").equals(400)
        expect(r.json().get("error"), "error").equals("Access Denied")
    with lab.step("And ten minutes later tokens are issued again"):
        lab.clock.advance(600)
        expect("access_token" in lab.http.post(f"{lab.url}/oauth/v2/token", data=form).json(), "token issued").is_true()


@scenario("FAKE-AUTH-BAD-CLIENT", "A wrong client secret gets invalid_client, an unknown refresh token invalid_code",
          tags=("accounts", "edge"))
def bad_credentials(lab):
    t = lab.tenant(products=["books"])
    with lab.step("When the client secret is wrong"):
        r = lab.http.post(f"{lab.url}/oauth/v2/token", data={
            "grant_type": "refresh_token", "client_id": t.client_id, "client_secret": "nope",
            "refresh_token": t.refresh_token})
    with lab.step("Then Accounts answers HTTP 200 with error invalid_client"):
        expect(r.status_code, "HTTP status").equals(200)
        expect(r.json(), "answer").equals({"error": "invalid_client"})
    with lab.step("And an unknown refresh token gets invalid_code"):
        r = lab.http.post(f"{lab.url}/oauth/v2/token", data={
            "grant_type": "refresh_token", "client_id": t.client_id, "client_secret": t.client_secret,
            "refresh_token": "1000.nope.nope"})
        expect(r.json(), "answer").equals({"error": "invalid_code"})
