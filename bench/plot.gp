# SPDX-License-Identifier: MIT
# bench/plot.gp: the connect benchmark's plot, from report.py's data files.
#   gnuplot -e "data='PREFIX'; out='plot.png'" bench/plot.gp
# PREFIX.<system>: "filters rate-ratio cpu-ratio cpu-us" per line (lfp,
# iptables, nftables; lfp-noevents); PREFIX.nfqueue and PREFIX.opensnitch: the
# same at the smallest and largest filter count (they have no rule list).
has(f) = system(sprintf("test -s '%s' && echo 1 || echo 0", f)) + 0
meta = system(sprintf("cat '%s.meta' 2>/dev/null", data))

set terminal pngcairo size 1280,560 font "sans,10"
set output out
set multiplot layout 1,2 title "loopback connect(): cost against filter count, per system\n{/*0.8 ".meta."}"
set logscale x 10
set format x "10^{%L}"
set grid xtics ytics mytics
set key bottom left box opaque
set xlabel "filters in the policy (peers: the same filters, translated)"
set xrange [5:2000000]

style_lfp = "with linespoints lw 2 pt 7 ps 1.2 lc rgb '#1f77b4'"
do for [panel=1:2] {
	col = panel == 1 ? 2 : 3
	if (panel == 1) {
		set ylabel "connect rate / baseline rate (same run)"
		set title "connect rate (higher is better)"
		set logscale y 10
		set yrange [0.01:2.5]
		set ytics (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2)
	} else {
		set ylabel "baseline CPU time / CPU time per connect"
		set title "the benchmark's own CPU time per connect, as a ratio\n(higher is better; the daemons' CPU is not in it)"
		set logscale y 10
		set yrange [0.01:2.5]
		set ytics (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2)
	}
	cmd = "plot 1 with lines lc rgb '#999999' dt 2 title 'baseline'"
	if (has(data.".lfp")) { cmd = cmd . sprintf(", '%s.lfp' using 1:%d with linespoints lw 2 pt 7 ps 1.2 lc rgb '#1f77b4' title 'lfp (events on)'", data, col) }
	if (has(data.".lfp-noevents")) { cmd = cmd . sprintf(", '%s.lfp-noevents' using 1:%d with points pt 9 ps 1.8 lc rgb '#1f77b4' title 'lfp (events off)'", data, col) }
	if (has(data.".nftables")) { cmd = cmd . sprintf(", '%s.nftables' using 1:%d with linespoints lw 2 pt 5 lc rgb '#2ca02c' title 'nftables sets'", data, col) }
	if (has(data.".iptables")) { cmd = cmd . sprintf(", '%s.iptables' using 1:%d with linespoints lw 2 pt 13 lc rgb '#d62728' title 'iptables, linear rules'", data, col) }
	if (has(data.".nfqueue")) { cmd = cmd . sprintf(", '%s.nfqueue' using 1:%d with lines lw 2 dt 4 lc rgb '#9467bd' title 'NFQUEUE verdict per SYN'", data, col) }
	if (has(data.".opensnitch")) { cmd = cmd . sprintf(", '%s.opensnitch' using 1:%d with lines lw 2 dt 5 lc rgb '#ff7f0e' title 'OpenSnitch 1.5.8'", data, col) }
	eval(cmd)
}
unset multiplot
