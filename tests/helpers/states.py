"""The small world the state, trigger and history route tests share: a site with two
objects and a link, a hidden object (and a link to it), and users who see more or less."""

from __future__ import annotations


async def state_world(api) -> dict:
    admin = await api.admin()
    site = await api.object("site")
    a, b = await api.object("a", site), await api.object("b", site)
    hidden = await api.object("hidden", site)
    link = await api.link(a, b)
    hidden_link = await api.link(a, hidden)
    ids = {
        "site": site,
        "object": a,
        "other": b,
        "link": link,
        "hidden_object": hidden,
        "hidden_link": hidden_link,
    }
    users = {
        "admin": admin,
        # sees the site but the hidden object (and so the link to it), may change all
        "modifier": await api.user(
            "modifier",
            permissions=["modify-objects", "modify-links"],
            include=[site],
            exclude=[hidden],
        ),
        "viewer": await api.user("viewer", include=[site], exclude=[hidden]),
        # every permission, sees nothing
        "outsider": await api.user(
            "outsider", permissions=["manage-objects", "manage-links"], include=[]
        ),
    }
    return {"ids": ids, "users": users}
