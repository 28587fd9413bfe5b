#!/usr/bin/python3
"""Idempotent Keystone v3 provisioning for the swiftmount test stack (stdlib only).

Get-or-create: domain labdomain, projects service/demo/labproject, users
swift/demo/labuser/labadmin with their roles, regions RegionOne and RegionTwo,
the object-store service "swift" with public/internal/admin endpoints
(RegionOne -> proxy :SWIFT_PROXY_PORT, RegionTwo -> proxy :SWIFT_PROXY2_PORT).
Passwords are reset to the configured values on every run.
Settings come from the environment (scripts/swift-up.sh exports them).
Prints a JSON object with the ids the tests may need.
"""
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

E = os.environ
HOST = E.get("SWIFTMOUNT_LAB_HOST", "127.0.0.1")
KS = "http://%s:%s/v3" % (HOST, E.get("KEYSTONE_PORT", "5000"))
PROXIES = (("RegionOne", E.get("SWIFT_PROXY_PORT", "8080")),
           ("RegionTwo", E.get("SWIFT_PROXY2_PORT", "8081")))


def call(method, path, body=None, token=None, ok=(200, 201, 204)):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(KS + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("X-Auth-Token", token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None), r.headers
    except urllib.error.HTTPError as e:
        raw = e.read()
        if e.code in ok:
            return e.code, None, e.headers
        sys.exit("keystone %s %s -> %s %s" % (method, path, e.code, raw[:300]))


def admin_token():
    body = {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"},
            "password": E.get("KS_ADMIN_PASSWORD", "admin-secret")}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    _, _, h = call("POST", "/auth/tokens", body)
    return h["X-Subject-Token"]


T = admin_token()


def find(coll, **q):
    _, j, _ = call("GET", "/%s?%s" % (coll, urllib.parse.urlencode(q)), token=T)
    items = j[coll]
    return items[0] if items else None


def get_or_create(coll, query, body):
    """find by query; create with body if absent; return the object"""
    obj = find(coll, **query)
    if not obj:
        key = coll[:-1]
        _, j, _ = call("POST", "/" + coll, {key: body}, T)
        obj = j[key]
    return obj


def domain(name):
    return get_or_create("domains", {"name": name}, {"name": name, "enabled": True})["id"]


def project(name, domain_id):
    return get_or_create("projects", {"name": name, "domain_id": domain_id},
                         {"name": name, "domain_id": domain_id, "enabled": True})["id"]


def role(name):
    return get_or_create("roles", {"name": name}, {"name": name})["id"]


def user(name, domain_id, password, project_id):
    u = find("users", name=name, domain_id=domain_id)
    if not u:
        _, j, _ = call("POST", "/users", {"user": {
            "name": name, "domain_id": domain_id, "password": password,
            "default_project_id": project_id, "enabled": True}}, T)
        return j["user"]["id"]
    call("PATCH", "/users/%s" % u["id"], {"user": {"password": password, "enabled": True}}, T)
    return u["id"]


def grant(project_id, user_id, role_id):
    call("PUT", "/projects/%s/users/%s/roles/%s" % (project_id, user_id, role_id), token=T)


def region(rid):
    code, _, _ = call("GET", "/regions/%s" % rid, token=T, ok=(200, 404))
    if code == 404:
        call("POST", "/regions", {"region": {"id": rid}}, T)


def endpoint(service_id, region_id, interface, url):
    e = find("endpoints", service_id=service_id, region_id=region_id, interface=interface)
    if not e:
        call("POST", "/endpoints", {"endpoint": {
            "service_id": service_id, "region_id": region_id,
            "interface": interface, "url": url, "enabled": True}}, T)
    elif e["url"] != url:
        call("PATCH", "/endpoints/%s" % e["id"], {"endpoint": {"url": url}}, T)


r_admin, r_member = role("admin"), role("member")
for extra in ("reader", "swiftoperator", "ResellerAdmin"):
    role(extra)

# service user for the proxies' authtoken middleware
p_service = project("service", "default")
grant(p_service, user("swift", "default", E.get("KS_SWIFT_PASSWORD", "swift-secret"), p_service), r_admin)

# demo user in the Default domain
p_demo = project("demo", "default")
u_demo = user("demo", "default", E.get("KS_DEMO_PASSWORD", "demo-secret"), p_demo)
grant(p_demo, u_demo, r_member)

# a non-default domain with a project, a member and an admin
d_lab = domain("labdomain")
p_lab = project("labproject", d_lab)
u_lab = user("labuser", d_lab, E.get("KS_LAB_PASSWORD", "lab-secret"), p_lab)
grant(p_lab, u_lab, r_member)
u_labadmin = user("labadmin", d_lab, E.get("KS_LABADMIN_PASSWORD", "labadmin-secret"), p_lab)
grant(p_lab, u_labadmin, r_member)
grant(p_lab, u_labadmin, r_admin)

# catalog: object-store in RegionOne (:8080) and RegionTwo (:8081)
svc = get_or_create("services", {"type": "object-store"},
                    {"type": "object-store", "name": "swift", "enabled": True})["id"]
for reg, port in PROXIES:
    region(reg)
    for iface in ("public", "internal", "admin"):
        endpoint(svc, reg, iface, "http://%s:%s/v1/AUTH_$(project_id)s" % (HOST, port))

print(json.dumps({
    "demo_project_id": p_demo, "demo_user_id": u_demo,
    "lab_project_id": p_lab, "labuser_id": u_lab, "labadmin_id": u_labadmin,
    "labdomain_id": d_lab, "object_store_service_id": svc}))
