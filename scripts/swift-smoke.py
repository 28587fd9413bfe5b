#!/usr/bin/python3
"""Smoke-check a running stack (stdlib only): /usr/bin/python3 scripts/swift-smoke.py
tempauth v1; keystone v3 token for labuser (labdomain) with object-store in RegionOne and
RegionTwo; PUT/GET/listing on both proxies; SLO upload; application credential auth;
token lifetime (expires_at - issued_at).  Exit status = number of failures."""
import hashlib
import json
import os
import sys
import urllib.error
import urllib.request
from datetime import datetime

E = os.environ
H = E.get("SWIFTMOUNT_LAB_HOST", "127.0.0.1")
KS = "http://%s:%s/v3" % (H, E.get("KEYSTONE_PORT", "5000"))
P1 = "http://%s:%s" % (H, E.get("SWIFT_PROXY_PORT", "8080"))
fails = 0


def req(method, url, body=None, headers=None):
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    r = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if not isinstance(body, (bytes, type(None))):
        r.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(r, timeout=30) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def check(name, ok, detail=""):
    global fails
    print("%s %s %s" % ("PASS" if ok else "FAIL", name, detail))
    fails += 0 if ok else 1


def iso(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


# tempauth v1
st, h, _ = req("GET", P1 + "/auth/v1.0", headers={"X-Auth-User": "test:tester", "X-Auth-Key": "testing"})
check("tempauth v1", st == 200 and h.get("X-Auth-Token") and h.get("X-Storage-Url"), h.get("X-Storage-Url", st))

# keystone v3, non-default domain
scope = {"project": {"name": "labproject", "domain": {"name": "labdomain"}}}
st, h, b = req("POST", KS + "/auth/tokens", {"auth": {"identity": {"methods": ["password"], "password": {
    "user": {"name": "labuser", "domain": {"name": "labdomain"},
             "password": E.get("KS_LAB_PASSWORD", "lab-secret")}}}, "scope": scope}})
check("keystone v3 password token (labuser@labdomain)", st == 201, st)
tok, tb = h["X-Subject-Token"], json.loads(b)["token"]
life = (iso(tb["expires_at"]) - iso(tb["issued_at"])).total_seconds()
print("INFO token lifetime %.0f s (KS_TOKEN_EXPIRATION=%s)" % (life, E.get("KS_TOKEN_EXPIRATION", "?")))
if E.get("KS_TOKEN_EXPIRATION"):
    check("token lifetime", abs(life - int(E["KS_TOKEN_EXPIRATION"])) < 2, life)
urls = {}
for svc in tb["catalog"]:
    if svc["type"] == "object-store":
        for ep in svc["endpoints"]:
            if ep["interface"] == "public":
                urls[ep["region_id"]] = ep["url"]
check("catalog object-store RegionOne+RegionTwo", set(urls) >= {"RegionOne", "RegionTwo"}, urls)

for region, base in sorted(urls.items()):
    c = base + "/smoke-" + region
    ah = {"X-Auth-Token": tok}
    st1 = req("PUT", c, b"", ah)[0]
    st2 = req("PUT", c + "/dir/obj.txt", b"hello " + region.encode(), ah)[0]
    st3, _, body = req("GET", c + "/dir/obj.txt", None, ah)
    st4, _, lst = req("GET", c + "?format=json&prefix=dir/&delimiter=/", None, ah)
    check("PUT/GET/list via %s" % region, (st1, st2, st3, st4) in [(201, 201, 200, 200), (202, 201, 200, 200)]
          and body == b"hello " + region.encode() and json.loads(lst)[0]["name"] == "dir/obj.txt",
          (st1, st2, st3, st4))

# SLO: two 1 MiB segments + manifest
c = urls["RegionOne"] + "/smoke-slo"
ah = {"X-Auth-Token": tok}
req("PUT", c, b"", ah)
segs = []
for i in range(2):
    data = bytes([65 + i]) * 1048576
    req("PUT", "%s/seg/%d" % (c, i), data, ah)
    segs.append({"path": "/smoke-slo/seg/%d" % i, "etag": hashlib.md5(data).hexdigest(), "size_bytes": len(data)})
st = req("PUT", c + "/big?multipart-manifest=put", json.dumps(segs).encode(), ah)[0]
st2, h2, body = req("GET", c + "/big", None, ah)
check("SLO manifest upload + GET", st == 201 and st2 == 200 and len(body) == 2097152
      and h2.get("X-Static-Large-Object") == "True", (st, st2, len(body)))

# application credential created by labuser, then used to authenticate
uid = tb["user"]["id"]
st, _, b = req("POST", KS + "/users/%s/application_credentials" % uid,
               {"application_credential": {"name": "smoke-%d" % os.getpid()}}, {"X-Auth-Token": tok})
check("create application credential", st == 201, st)
if st == 201:
    ac = json.loads(b)["application_credential"]
    st, h, b = req("POST", KS + "/auth/tokens", {"auth": {"identity": {
        "methods": ["application_credential"],
        "application_credential": {"id": ac["id"], "secret": ac["secret"]}}}})
    check("token via application credential", st == 201 and "X-Subject-Token" in h, st)
    if st == 201:
        st = req("GET", urls["RegionOne"] + "/smoke-slo?format=json", None,
                 {"X-Auth-Token": h["X-Subject-Token"]})[0]
        check("Swift listing with app-cred token", st == 200, st)
    req("DELETE", KS + "/users/%s/application_credentials/%s" % (uid, ac["id"]), None, {"X-Auth-Token": tok})

print("%d failed" % fails)
sys.exit(fails)
