# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# bench/peers.sh: the peers bench/run compares lfp with (iptables with N linear
# rules, nftables sets, an NFQUEUE verdict per SYN, OpenSnitch), sourced by
# bench/run. Every rule goes into the bench network namespace ($ns) only: each
# command here runs through in_ns (nsenter --net), and peer_reset flushes that
# namespace's whole ruleset. bench/run checks the main namespace's rules before
# and after the run (main_rules).
#
# Rules are translated from the same generated lfp policy the lfp scenarios
# use (the first N filters), as far as the peer can express them:
#   remote.addr CIDR [remote.port {..}] block  ->  destination match (+ ports)
#   [proto P] remote.port N|A-B block           ->  port match on SYNs
#   app PATH ...                                ->  none (iptables and nftables
#                                                   cannot match an executable)

in_ns() { nsenter --net=/run/netns/"$ns" "$@"; }

# What the main namespace's firewall looks like (compared before/after).
main_rules() {
	{
		iptables -S 2>&1
		ip6tables -S 2>&1
		nft list ruleset 2>&1
	} | sha256sum | cut -c1-16
}

peer_reset() { in_ns nft flush ruleset; }

# The first $2 filters of policy file $1, as iptables-restore input (IPv4 only).
ipt_rules() { # policy N
	awk -v n="$2" '
		BEGIN { print "*filter"; print ":OUTPUT ACCEPT [0:0]" }
		$1 != "filter" || $0 ~ /bench-permit|bench-probe/ { next }
		{ if (++seen > n) exit }
		/ app / { next }
		/remote\.addr [0-9.]+\// {
			match($0, /remote\.addr [0-9.\/]+/); d = substr($0, RSTART + 12, RLENGTH - 12)
			if ($0 ~ /remote\.port \{/) {
				match($0, /\{[^}]*\}/); p = substr($0, RSTART + 1, RLENGTH - 2); gsub(/ /, "", p)
				print "-A OUTPUT -d " d " -p tcp -m multiport --dports " p " -j DROP"
			} else
				print "-A OUTPUT -d " d " -j DROP"
			next
		}
		/remote\.port [0-9]+-[0-9]+ / {
			match($0, /remote\.port [0-9]+-[0-9]+/); p = substr($0, RSTART + 12, RLENGTH - 12)
			sub(/-/, ":", p)
			print "-A OUTPUT -p tcp --syn --dport " p " -j DROP"; next
		}
		/remote\.port [0-9]+ / {
			match($0, /remote\.port [0-9]+/); p = substr($0, RSTART + 12, RLENGTH - 12)
			proto = ($0 ~ /proto udp/) ? "udp" : "tcp"
			print "-A OUTPUT -p " proto (proto == "tcp" ? " --syn" : "") " --dport " p " -j DROP"
		}
		END { print "COMMIT" }' "$1"
}

# The first $2 filters of policy file $1 as one nftables table with sets, loaded
# into the bench netns: the table with empty sets first, then the elements in
# chunks of 5000 (one nft transaction each: a single netlink batch of 100k
# interval elements overflows the socket buffer, ENOBUFS).
nft_load() { # policy N
	local dir=$tmp/nft f
	rm -rf "$dir"
	mkdir -p "$dir"
	awk -v n="$2" -v dir="$dir" '
		function add(set, e) {
			if (cnt[set] % 5000 == 0) {
				if (set in file) { print "}" > file[set]; close(file[set]) }
				file[set] = sprintf("%s/%s.%06d.nft", dir, set, cnt[set] / 5000)
				print "add element inet lfpbench " set " {" > file[set]
			} else
				print "," > file[set]
			printf "%s", e > file[set]
			cnt[set]++
		}
		$1 != "filter" || $0 ~ /bench-permit|bench-probe/ { next }
		{ if (++seen > n) exit }
		/ app / { next }
		/remote\.addr [0-9a-f.:]+\// {
			match($0, /remote\.addr [0-9a-f.:\/]+/); d = substr($0, RSTART + 12, RLENGTH - 12)
			v = (d ~ /:/) ? "6" : "4"
			# gen_policy gives every address+port filter the same ports
			if ($0 ~ /remote\.port \{80, 443, 8080\}/)
				add("web" v, d)
			else if ($0 ~ /remote\.port/)
				next
			else
				add("bl" v, d)
			next
		}
		/remote\.port [0-9]+(-[0-9]+)? / {
			match($0, /remote\.port [0-9]+(-[0-9]+)?/); add("ports", substr($0, RSTART + 12, RLENGTH - 12))
		}
		END {
			for (s in file) { print "\n}" > file[s]; close(file[s]) }
			t = dir "/0-table.nft"
			print "table inet lfpbench {" > t
			print "set bl4 { type ipv4_addr; flags interval; auto-merge; }" > t
			print "set bl6 { type ipv6_addr; flags interval; auto-merge; }" > t
			print "set web4 { type ipv4_addr; flags interval; auto-merge; }" > t
			print "set web6 { type ipv6_addr; flags interval; auto-merge; }" > t
			print "set ports { type inet_service; flags interval; auto-merge; }" > t
			print "chain out { type filter hook output priority 0; policy accept;" > t
			print "ip daddr @bl4 drop" > t
			print "ip6 daddr @bl6 drop" > t
			print "ip daddr @web4 tcp dport { 80, 443, 8080 } drop" > t
			print "ip6 daddr @web6 tcp dport { 80, 443, 8080 } drop" > t
			print "tcp flags & (syn | ack) == syn tcp dport @ports drop" > t
			print "}" > t
			print "}" > t
		}' "$1"
	for f in "$dir"/*.nft; do
		in_ns nft -f "$f" || { echo "bench/run: nft -f $f failed" >&2; return 1; }
	done
}

# How many elements the bench table's sets hold.
nft_count() {
	in_ns nft -j list table inet lfpbench |
		jq '[.nftables[] | select(.set) | .set.elem // [] | length] | add'
}

# NFQUEUE: every SYN leaving a socket goes to nfq_verdict, which accepts it.
nfq_pid=
nfq_start() {
	local out=$tmp/nfq.out
	: >"$out"
	# nsenter execs the program: $! is its pid (a function here would not be)
	nsenter --net=/run/netns/"$ns" "$build/bench/nfq_verdict" 0 >"$out" 2>&1 &
	nfq_pid=$!
	for _ in $(seq 50); do grep -q ready "$out" && break; sleep 0.1; done
	grep -q ready "$out" || { cat "$out" >&2; return 1; }
	in_ns iptables -A OUTPUT -p tcp --syn -j NFQUEUE --queue-num 0
}
nfq_stop() { # prints the verdict count
	[ -n "$nfq_pid" ] || return 0
	kill -TERM "$nfq_pid" 2>/dev/null || true
	wait "$nfq_pid" 2>/dev/null || true
	nfq_pid=
	jq -r '.verdicts // 0' <(grep '^{' "$tmp/nfq.out") 2>/dev/null || echo 0
}

# OpenSnitch: opensnitchd in the bench netns, a private mount namespace (its
# configuration directory is /etc/opensnitchd, bind-mounted from a temp dir)
# and a cgroup of its own; Debian's default configuration except: no UI
# (a socket path nothing listens on), default action allow, logs to the temp dir.
osn_pid=
osn_cg=
osn_start() {
	local etc=$tmp/opensnitchd method
	mkdir -p "$etc/rules"
	# Debian's default is "ebpf": opensnitchd looks for its module as
	# /etc/opensnitchd/opensnitch.o, which the Debian package does not ship and
	# which the private directory never has, so it falls back to /proc (its log
	# says so). That also keeps its kprobes, which would watch every process on
	# the machine, from ever loading.
	method=$(jq -r '.ProcMonitorMethod // "proc"' /etc/opensnitchd/default-config.json 2>/dev/null || echo proc)
	jq --arg log "$tmp/opensnitchd.log" --arg ui "unix://$tmp/no-ui.sock" --arg m "$method" \
		'.Server.Address = $ui | .Server.LogFile = $log | .DefaultAction = "allow" |
		 .ProcMonitorMethod = $m' /etc/opensnitchd/default-config.json >"$etc/default-config.json"
	cp /etc/opensnitchd/system-fw.json "$etc/" 2>/dev/null || true
	osn_cg=$cg_root/$id-opensnitch
	mkdir "$osn_cg"
	bash -c 'echo $$ >"$1/cgroup.procs" && exec unshare -m --propagation private sh -c \
		"mount --bind \"\$0\" /etc/opensnitchd && exec nsenter --net=/run/netns/\$1 opensnitchd -rules-path /etc/opensnitchd/rules -log-file \$2 -important" \
		"$2" "$3" "$4"' -- "$osn_cg" "$etc" "$ns" "$tmp/opensnitchd.log" >>"$tmp/opensnitchd.out" 2>&1 &
	osn_pid=$!
	for _ in $(seq 100); do
		if in_ns iptables -t mangle -S OUTPUT 2>/dev/null | grep -q NFQUEUE; then
			# OpenSnitch queues only conntrack state NEW. The benchmark's
			# server closes with a RST, which leaves the entry in CLOSE for
			# 10 s, and a SYN that reuses its tuple (ephemeral ports wrap in
			# seconds at these rates) is not NEW then: it would pass
			# unseen. One second in this namespace (and bench/run's wide
			# port range) keeps every connect a NEW one, as on a real
			# machine; bench/run checks that opensnitchd queued them all.
			in_ns sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_close=1
			return 0
		fi
		kill -0 "$osn_pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "bench/run: opensnitchd did not install its rules; its log:" >&2
	tail -n 20 "$tmp/opensnitchd.log" "$tmp/opensnitchd.out" >&2
	return 1
}
# Packets opensnitchd's NFQUEUE rule sent to it so far.
osn_queued() {
	in_ns iptables -t mangle -L OUTPUT -v -x -n 2>/dev/null | awk '/NFQUEUE/ { s += $1 } END { print s + 0 }'
}

osn_stop() {
	if [ -n "$osn_pid" ]; then
		kill -TERM "$osn_pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$osn_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$osn_pid" 2>/dev/null || true
		wait "$osn_pid" 2>/dev/null || true
		osn_pid=
	fi
	if [ -n "$osn_cg" ] && [ -d "$osn_cg" ]; then
		for p in $(cat "$osn_cg/cgroup.procs" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
		for _ in 1 2 3 4 5 6 7 8 9 10; do rmdir "$osn_cg" 2>/dev/null && break; sleep 0.2; done
		osn_cg=
	fi
}
