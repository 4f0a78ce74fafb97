"""The Poster simulator's own control routes (sandbox/poster.py's docstring lists them): a page for
the person clicking around `make run`, and the knobs and changes tests and benchmarks post."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from poster_sync.demo_account import SANDBOX_ACCOUNT

from .harness import Request, Response, json_body, json_response
from .poster_records import OBJECTS

if TYPE_CHECKING:
    from .poster import PosterSimulator


def control_page(sim: PosterSimulator, request: Request) -> Response:
    """A page for the person clicking around `make run`: rename an ingredient or change its stock."""
    if request.method == "POST":
        form = request.form()
        oid = form.get("object_id", "")
        if oid.isdigit():
            fields = {k: form[k] for k in ("ingredient_name", "ingredient_left") if form.get(k)}
            action = "removed" if form.get("remove") else "changed"
            sim.change("ingredient", oid, action=action, fields=fields, sync=False)
        return Response(status=302, body=b"", headers={"Location": "/_sandbox/poster/"}, content_type="text/plain")
    with sim.lock:
        items = sorted(sim.catalogue()["ingredients"].values(), key=lambda i: int(i["ingredient_id"]))
        deliveries = sim.state["deliveries"][-5:]
    rows = "".join(
        f"<tr><td>{html.escape(i['ingredient_id'])}</td><td>{html.escape(i['ingredient_name'])}</td>"
        f"<td>{html.escape(i['ingredient_left'])} {html.escape(i['ingredient_unit'])}</td></tr>"
        for i in items
    )
    sent = "".join(
        f"<li>{html.escape(str(d['body'].get('object')))} {html.escape(str(d['body'].get('object_id')))} "
        f"{html.escape(str(d['body'].get('action')))} → HTTP {d['status']}</li>"
        for d in deliveries
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Poster sandbox</title></head>
<body style="font-family:sans-serif;max-width:44rem;margin:2rem auto">
<h1>Poster — sandbox account {SANDBOX_ACCOUNT}</h1>
<p>Simulated, no real data. A change here is followed by Poster's signed webhook to {html.escape(sim.webhook_url)}.</p>
<form method="post"><label>Ingredient id <input name="object_id" size="4" value="1"></label>
<label>New name <input name="ingredient_name"></label> <label>Left <input name="ingredient_left" size="6"></label>
<label><input type="checkbox" name="remove" value="1"> remove</label> <button>Change in Poster</button></form>
<h2>Last webhooks</h2><ul>{sent or "<li>none yet</li>"}</ul>
<h2>Ingredients</h2><table border="1" cellpadding="4"><tr><th>id</th><th>name</th><th>left</th></tr>{rows}</table>
</body></html>"""
    return Response(status=200, body=page, content_type="text/html; charset=utf-8")


def control(sim: PosterSimulator, request: Request) -> Response:
    if request.path == "/_sandbox/poster/":
        return control_page(sim, request)
    if request.path == "/_sandbox/poster/deliveries":
        with sim.lock:
            return json_response({"deliveries": sim.state["deliveries"][-200:]})
    body = json_body(request)
    if request.path == "/_sandbox/poster/config" and request.method == "POST":
        with sim.lock:
            if "webhook_url" in body:
                sim.webhook_url = str(body["webhook_url"])
            if "app_secret" in body:
                sim.app_secret = str(body["app_secret"])
            if "rate_restriction_next" in body:
                sim.state["rate_restriction_next"] = int(body["rate_restriction_next"])
            if "calls_per_second" in body:
                sim.state["calls_per_second"] = float(body["calls_per_second"])
            if "webhook_retries" in body:
                sim.webhook_retries = int(body["webhook_retries"])
            if "webhook_retry_delay" in body:
                sim.webhook_retry_delay = float(body["webhook_retry_delay"])
            if body.get("hold_next_read"):
                sim.hold_next_read(str(body["hold_next_read"]))
        if body.get("release_reads"):
            sim.release_reads()
        if body.get("expire_tokens"):
            sim.expire_tokens()
        return json_response({"ok": True, "webhook_url": sim.webhook_url})
    if request.path == "/_sandbox/poster/accounts" and request.method == "POST":
        name = str(body.get("account", ""))
        if not name or not name.replace("-", "").isalnum() or len(name) > 64:
            return json_response({"error": "account: letters, digits and dashes"}, 400)
        return json_response({"ok": True, "token": sim.add_account(name)})
    if request.path == "/_sandbox/poster/change" and request.method == "POST":
        account = str(body.get("account") or SANDBOX_ACCOUNT)
        if account not in sim.state["accounts"]:
            return json_response({"error": "unknown account"}, 400)
        if str(body.get("object")) not in OBJECTS or not str(body.get("object_id", "")).isdigit():
            return json_response({"error": f"object must be one of {sorted(OBJECTS)}, object_id digits"}, 400)
        sent = sim.change(
            str(body["object"]),
            str(body["object_id"]),
            action=str(body.get("action", "changed")),
            fields=body.get("fields") or {},
            data=body.get("data"),
            forged=bool(body.get("forged")),
            form=bool(body.get("form")),
            send=bool(body.get("send", True)),
            sync=bool(body.get("sync", False)),
            account=account,
        )
        return json_response({"ok": True, "webhook": sent})
    return json_response({"error": "unknown control path"}, 404)
