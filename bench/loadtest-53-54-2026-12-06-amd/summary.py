"""One line per run directory: the share booked within ten minutes, waits, admitted and front-door latency,
CPU, the admission peak, the seconds 60-600 s after the opening in which fewer than 100 people a second
were booked while more than 1,000 waited (stalls), and the generator's slot waits.

    python3 summary.py RUN_DIR [RUN_DIR ...]
"""
import json, sys
for path in sys.argv[1:]:
    r = json.load(open(path + '/report.json'))
    ep = r['endpoints']
    fd = " / ".join(f"{ep[n]['p99_ms']:.0f}" for n in ["POST /queue/arrive", "POST /queue/arrive (reload)", "GET /queue/status", "POST /queue/exchange"])
    w = r['arrival_to_confirmed_booking']; a = r['admitted_latency_all']
    s = r['samples']; gaps = 0.0
    for prev, x in zip(s, s[1:]):
        t = x['t_s']
        if 60 < t < 600:
            dt = t - prev['t_s']
            if (x['bookings_total'] - prev['bookings_total']) / dt < 100 and x['waiting'] > 1000: gaps += dt
    def saturated(a, b):
        xs = [x for x in s if a <= x['t_s'] < b]
        return sum(x['client_in_flight'] > 2000 for x in xs) / max(1, len(xs))
    sat = " / ".join(f"{saturated(a, b):.2f}" for a, b in [(0, 150), (150, 400), (400, 700)])
    print(f"{path}: within10 {100*r['share_booked_within_10_min']:.3f}% booked {r['outcomes'].get('booked')} | wait p50/p99/max {w['p50_ms']/1000:.0f}/{w['p99_ms']/1000:.0f}/{w['max_ms']/1000:.0f} s | admitted p50/p90/p99 {a['p50_ms']:.1f}/{a['p90_ms']:.0f}/{a['p99_ms']:.0f} ms | front door p99 {fd} | {r['server_cpu_ms_per_booked_person']:.3f} ms/person {r['server_cpu_us_per_request']:.1f} us/req gen {r['client_cpu_us_per_request']:.1f} | adm peak {r['admission_rate_peak_per_s']:.0f} | stalls {gaps:.0f} s | slot waits {r['client_waits']} max {r['client_wait_max_ms']:.0f} ms | share of seconds with over 2,000 requests in flight 0-150/150-400/400-700 s {sat} | 5xx {r['errors_5xx']} audit {r['audit'].get('violations') if isinstance(r['audit'],dict) else r['audit']}")
