#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Block by remote address and port: IPv4, IPv6 (::1) and v4-mapped IPv6.
. "$(dirname "$0")/lib.sh"
t_setup
t_listen
t_lfpd_start

# remote.port
id=$(lfp filter add layer auth-connect remote.port $P2 block) || t_bail "filter add remote.port"
t_expect "remote.port $P2: curl to 127.0.0.1:$P2 blocked" eperm \
	"$(curl_try "http://127.0.0.1:$P2/")"
t_expect "remote.port $P2: curl to [::1]:$P2 blocked" eperm "$(curl_try "http://[::1]:$P2/")"
t_expect "remote.port $P2: python to $P2 blocked" EPERM "$(py_tcp 127.0.0.1 $P2)"
t_expect "remote.port $P2: curl to $P1 works" ok "$(curl_try "http://127.0.0.1:$P1/")"
lfp filter delete "$id" || t_bail "filter delete"

# remote.addr IPv4
id=$(lfp filter add layer auth-connect remote.addr 127.0.0.2 block) || t_bail "filter add v4"
t_expect "remote.addr 127.0.0.2: curl to it blocked" eperm "$(curl_try "http://127.0.0.2:$P1/")"
t_expect "remote.addr 127.0.0.2: curl to 127.0.0.1 works" ok "$(curl_try "http://127.0.0.1:$P1/")"
t_expect "remote.addr 127.0.0.2: curl to ::1 works" ok "$(curl_try "http://[::1]:$P1/")"
lfp filter delete "$id" || t_bail "filter delete"

# prefix and port together (fields AND)
id=$(lfp filter add layer auth-connect remote.addr 127.0.0.0/24 remote.port $P3 block) ||
	t_bail "filter add prefix+port"
t_expect "127.0.0.0/24 port $P3: 127.0.0.3:$P3 blocked" eperm "$(curl_try "http://127.0.0.3:$P3/")"
t_expect "127.0.0.0/24 port $P3: 127.0.1.1:$P3 works" ok "$(curl_try "http://127.0.1.1:$P3/")"
t_expect "127.0.0.0/24 port $P3: 127.0.0.3:$P1 works" ok "$(curl_try "http://127.0.0.3:$P1/")"
lfp filter delete "$id" || t_bail "filter delete"

# remote.addr IPv6
id=$(lfp filter add layer auth-connect remote.addr ::1 block) || t_bail "filter add v6"
t_expect "remote.addr ::1: curl to [::1] blocked" eperm "$(curl_try "http://[::1]:$P1/")"
t_expect "remote.addr ::1: python to ::1 blocked" EPERM "$(py_tcp ::1 $P1)"
t_expect "remote.addr ::1: curl to 127.0.0.1 works" ok "$(curl_try "http://127.0.0.1:$P1/")"
lfp filter delete "$id" || t_bail "filter delete"

# v4-mapped: an AF_INET6 socket to ::ffff:127.0.0.1 is an IPv4 flow
id=$(lfp filter add layer auth-connect remote.addr 127.0.0.1 block) || t_bail "filter add v4 .1"
t_expect "v4 rule blocks AF_INET6 connect to ::ffff:127.0.0.1" EPERM \
	"$(py_tcp ::ffff:127.0.0.1 $P1)"
t_expect "v4 rule blocks AF_INET connect to 127.0.0.1" EPERM "$(py_tcp 127.0.0.1 $P1)"
t_expect "v4 rule leaves AF_INET6 to ::ffff:127.0.0.2 alone" ok "$(py_tcp ::ffff:127.0.0.2 $P1)"
t_expect "v4 rule leaves ::1 alone" ok "$(py_tcp ::1 $P1)"
r=$(in_scope $PY "$CLIENT" udp ::ffff:127.0.0.1 $U1)
t_expect "v4 rule blocks unconnected UDP sendto ::ffff:127.0.0.1" EPERM "$(json_get "$r" $U1)"
lfp filter delete "$id" || t_bail "filter delete"
t_expect "after the deletes ::ffff:127.0.0.1 works" ok "$(py_tcp ::ffff:127.0.0.1 $P1)"
