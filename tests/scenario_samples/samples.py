from scenarios.harness import expect, scenario


@scenario("SAMPLE-PASSES", "A Books org starts with no contacts", rules=("TW-06",), tags=("books", "smoke"))
def passes(lab):
    books = lab.tenant(products=["books"]).books()
    with lab.step("When the contacts are listed"):
        r = books.get("/contacts")
    with lab.step("Then there are none"):
        expect(r.json()["contacts"], "contacts").equals([])


@scenario("SAMPLE-BROKEN", "A deliberately broken expectation", rules=("ZZ-99",), tags=("books",))
def broken(lab):
    books = lab.tenant(products=["books"]).books()
    with lab.step("Given a customer"):
        books.post("/contacts", json={"contact_name": "Only One"})
    with lab.step("Then there are two customers (wrong on purpose)"):
        expect(len(books.get("/contacts").json()["contacts"]), "number of customers").equals(2)
