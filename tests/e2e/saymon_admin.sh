#!/usr/bin/env bash
# A SAYMON administrator's script, written as one would write it against SAYMON's REST API
# with curl and jq: log in with a session, then create, describe, tag and find an object,
# add a user with an API token, and read a job with Basic auth and with that token.
#
#   login=<...> password=<...> saymon_hostname=<host:port> job_id=<...> [cookie_jar=<file>] \
#       saymon_admin.sh
#
# Each step prints one `key=value` line. curl fails on an error answer (printing it): a step
# that must succeed stops the script, a value read inside a line is then left empty.
set -euo pipefail
: "${login:?}" "${password:?}" "${saymon_hostname:?}" "${job_id:?}"
new_user_password=${new_user_password:-S3cure-report-bot!}
api=http://$saymon_hostname/node/api
if [ -n "${cookie_jar:-}" ]; then
    jar=$cookie_jar
else
    jar=$(mktemp)
    trap 'rm -f "$jar"' EXIT
fi

# Log in: the session answer sets the cookies sid and csrf.
curl -sS --fail-with-body -c "$jar" -X POST "$api/users/session" \
    -H "Content-Type: application/json" \
    --data "$(jq -n --arg l "$login" --arg p "$password" '{login: $l, password: $p}')" >/dev/null
csrf=$(awk '$6 == "csrf" {print $7}' "$jar")
[ -n "$csrf" ] || { echo "no csrf cookie" >&2; exit 1; }
echo "csrf_cookie=yes"

# Every change made with the session carries the csrf cookie's value in X-CSRF-Token.
session() {  # method path [json]
    curl -sS --fail-with-body -b "$jar" -X "$1" "$api$2" \
        -H "Content-Type: application/json" -H "X-CSRF-Token: $csrf" ${3:+--data "$3"}
}

# An object under the root, of the standard class Host (an integer class ID).
object=$(session POST /objects '{"name": "db-replica-7", "class_id": 3, "parent_id": "1"}')
object_id=$(jq -r .id <<<"$object")
echo "object_id=$object_id"
echo "object_class_id=$(jq -r .class_id <<<"$object")"

# A ReadWrite property (type_id 3), added through /props.
prop=$(session POST "/objects/$object_id/props" '{"name": "maintenance", "value": "off", "type_id": 3}')
echo "prop_id=$(jq -r .id <<<"$prop")"
props=$(session GET "/objects/$object_id/props")
echo "prop=$(jq -c '.[] | select(.name == "maintenance") | [.value, .type_id]' <<<"$props")"

# A tag, then the object's tags set to it.
tag_id=$(session POST /tags '{"name": "replicas"}' | jq -r .id)
echo "tag_id=$tag_id"
session PATCH "/objects/$object_id" "$(jq -n --arg t "$tag_id" '{tags: [$t]}')" >/dev/null
echo "object_tags=$(session GET "/objects/$object_id" | jq -c .tags)"

# The parent's child_ids name the new object; its children list holds it.
echo "root_class_id=$(session GET /objects/1 | jq -r .class_id)"
if session GET /objects/1 | jq -e --arg id "$object_id" '.child_ids | index($id)' >/dev/null; then
    echo "in_parent_child_ids=yes"
else
    echo "in_parent_child_ids=no"
fi
echo "children_names=$(session GET /objects/1/children | jq -c '[.[].name] | sort')"

# A new user that sees the whole tree, its API token issued, then read back from the user.
user_id=$(session POST /users "$(jq -n --arg p "$new_user_password" '{login: "report-bot",
    password: $p, objectPermissions: {include: ["1"], exclude: []}}')" | jq -r .id)
echo "user_id=$user_id"
token=$(session POST "/users/$user_id/auth-token" | jq -r .)
read_back=$(session GET "/users/$user_id" | jq -r .authenticationToken)
echo "token=$read_back"
[ "$read_back" = "$token" ] && echo "token_read_back=yes" || echo "token_read_back=no"

# The job, as the SAYMON documentation's example reads it (Basic), and with the new token.
echo "job_basic=$(curl -sS --fail-with-body -X GET "$api/jobs/$job_id" -u "$login:$password" | jq -r .id)"
echo "job_token=$(curl -sS --fail-with-body "$api/jobs/$job_id?auth-token=$token" | jq -r .id)"
# The token also opens a session of its own (a second cookie jar).
bot_jar=$(mktemp)
curl -sS --fail-with-body -c "$bot_jar" -X POST "$api/users/session" \
    -H "Content-Type: application/json" \
    --data "$(jq -n --arg t "$token" '{"auth-token": $t}')" >/dev/null
echo "job_token_session=$(curl -sS --fail-with-body -b "$bot_jar" "$api/jobs/$job_id" | jq -r .id)"
rm -f "$bot_jar"

# The CSRF rule: the same change with the cookie but without the header is refused;
# with Basic auth it needs no header.
no_header=$(curl -s -o /dev/null -w '%{http_code}' -b "$jar" -X PATCH "$api/objects/$object_id" \
    -H "Content-Type: application/json" --data '{"weight": 2}')
echo "cookie_without_csrf=$no_header"
basic=$(curl -s -o /dev/null -w '%{http_code}' -u "$login:$password" -X PATCH \
    "$api/objects/$object_id" -H "Content-Type: application/json" --data '{"weight": 2}')
echo "basic_without_csrf=$basic"
echo "weight=$(session GET "/objects/$object_id" | jq -r .weight)"
