"""Zoho Books/Invoice behaviours scenarios rely on: duplicate names, limits, faults, errors."""

from scenarios.harness import expect, scenario


@scenario("FAKE-BOOKS-DUPLICATE-NAME", "A second customer with the same display name is refused with 3062",
          tags=("books", "smoke", "edge"))
def duplicate_name(lab):
    t = lab.tenant(products=["books"])
    books = t.books()
    with lab.step("Given a customer 'Bowman and Co'"):
        expect(books.post("/contacts", json={"contact_name": "Bowman and Co"}).status_code, "create").equals(201)
    with lab.step("When another customer 'bowman and co' is created"):
        r = books.post("/contacts", json={"contact_name": "bowman and co"})
    with lab.step("Then Books refuses it with HTTP 400 and code 3062"):
        expect(r.status_code, "HTTP status").equals(400)
        expect(r.json()["code"], "Books code").equals(3062)
    with lab.step("And once the org allows duplicate names, the same create succeeds"):
        t.set_org("books", settings={"allow_duplicate_names": True})
        expect(books.post("/contacts", json={"contact_name": "bowman and co"}).status_code, "create").equals(201)


@scenario("FAKE-BOOKS-RATE-LIMIT", "The 101st Books call in a minute answers 429 code 44, without Retry-After",
          tags=("books", "limits", "edge"), exclusive=True)
def per_minute_limit(lab):
    t = lab.tenant(products=["books"])
    books = t.books()
    with lab.step("Given a frozen clock and an org with Zoho's rate limits on"):
        lab.clock.freeze()
        t.set_org("books", rate_limits=True)
    with lab.step("When 100 calls are made in the same minute, all succeed"):
        for i in range(100):
            expect(books.get("/settings/currencies").status_code, f"call #{i + 1}").equals(200)
    with lab.step("Then the 101st answers 429 with code 44, the rate-limit headers and no Retry-After"):
        r = books.get("/settings/currencies")
        expect(r.status_code, "HTTP status").equals(429)
        expect(r.json()["code"], "Books code").equals(44)
        expect("Retry-After" in r.headers, "Retry-After header present (real Books sends none)").is_false()
        expect("X-Rate-Limit-Reset" in r.headers, "X-Rate-Limit-Reset present").is_true()
    with lab.step("And a minute later calls succeed again"):
        lab.clock.advance(60)
        expect(books.get("/settings/currencies").status_code, "HTTP status").equals(200)


@scenario("FAKE-LAB-FAULT-NTH", "A fault rule fails exactly the 2nd POST /books/v3/items with 429",
          tags=("books", "lab", "smoke"))
def fault_on_nth_call(lab):
    t = lab.tenant(products=["books"])
    books = t.books()
    with lab.step("Given a fault rule: the 2nd POST of an item in this org answers 429"):
        lab.faults.add(product="books", method="POST", path="/books/v3/items", org=t.org("books"), nth=2,
                       action={"type": "rate_limit", "retry_after": 3})
    with lab.step("When three items are created"):
        codes = [books.post("/items", json={"name": f"Part {i}", "rate": 5}).status_code for i in range(3)]
    with lab.step("Then only the second was refused, and two items exist"):
        expect(codes, "statuses").equals([201, 429, 201])
        expect(len(books.get("/items").json()["items"]), "items stored").equals(2)


@scenario("FAKE-BOOKS-MALFORMED", "Malformed JSON gets code 1038 and stores nothing",
          tags=("books", "edge"))
def malformed_json(lab):
    books = lab.tenant(products=["books"]).books()
    with lab.step("When a contact is posted with a broken JSON body"):
        r = books.post("/contacts", content=b'{"contact_name": ', headers={"Content-Type": "application/json"})
    with lab.step("Then Books answers 400 code 1038, never a 500"):
        expect(r.status_code, "HTTP status").equals(400)
        expect(r.json(), "answer").equals({"code": 1038, "message": "JSON is not well formed"})
    with lab.step("And no contact was stored"):
        expect(books.get("/contacts").json()["contacts"], "contacts").equals([])


@scenario("FAKE-BOOKS-OTHER-TENANT", "A token cannot reach another tenant's org",
          tags=("books", "edge", "smoke"))
def other_tenant(lab):
    mine, theirs = lab.tenant(products=["books"]), lab.tenant(products=["books"])
    with lab.step("When my token is used on another tenant's Books org"):
        r = lab.http.get(f"{lab.url}/books/v3/contacts", params={"organization_id": theirs.org("books")},
                         headers={"Authorization": f"Zoho-oauthtoken {mine.token()}"})
    with lab.step("Then Books refuses with code 6041"):
        expect(r.status_code, "HTTP status").equals(401)
        expect(r.json()["code"], "Books code").equals(6041)
