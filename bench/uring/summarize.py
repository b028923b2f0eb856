#!/usr/bin/python3
"""summarize.py RESULT.json [baseline-name]: medians per phase/target + ratios."""
import json, statistics as S, sys
R = json.load(open(sys.argv[1]))
names = R['names']
for dm, ph in R['phases'].items():
    recs = ph['records']
    print(f"\n### drop_caches={dm} ({len(recs)//len(names)} rounds, N=4000 files x 110000 B, 8 client threads)\n")
    print("| target | files/s median (min-max) | vs local | vs classic best | daemon CPU us/file (epoch) | daemon CPU us/file incl. FORGET | daemon ctx-sw/file | host busy CPU us/file | requests/file |")
    print("|---|---|---|---|---|---|---|---|---|")
    med = {}
    for n in names:
        rs = [r for r in recs if r['name'] == n]
        med[n] = S.median(r['fps'] for r in rs)
    cls = [n for n in names if 'classic' in n]
    best_cl = max(cls, key=lambda n: med[n]) if cls else None
    for n in names:
        rs = [r for r in recs if r['name'] == n]
        f = [r['fps'] for r in rs]
        d = S.median(r['daemon_us_per_file'] for r in rs)
        c = S.median(r['daemon_csw_per_file'] for r in rs)
        b = S.median(r['sys_busy_us_per_file'] for r in rs)
        bad = sum(r['bad'] for r in rs)
        tot = ph['totals'].get(n, {})
        ti = tot.get('daemon_us_per_file_incl_forget')
        ops = tot.get('ops_per_file', {})
        opss = ' '.join(f"{k}={v:g}" for k, v in ops.items() if not k.startswith('_') and v >= 0.01)
        vs_local = med[n] / med['local'] if 'local' in med else float('nan')
        vs_cl = med[n] / med[best_cl] if best_cl else float('nan')
        print(f"| {n} | {med[n]:.0f} ({min(f):.0f}-{max(f):.0f}) | {vs_local:.2f} | {vs_cl:.2f} | "
              f"{d:.1f} | {'' if ti is None else f'{ti:.1f}'} | {c:.2f} | {b:.0f} | {opss}{' BAD=%d' % bad if bad else ''} |")
    if best_cl:
        print(f"\n(best classic by median = {best_cl})")
    # paired per-round ratios (same round => same host noise period)
    rounds = sorted(set(r['round'] for r in recs))
    fps = {(r['round'], r['name']): r['fps'] for r in recs}
    lines = []
    for a, b in [(u, c) for u in names if 'uring' in u for c in cls] + [(x, 'local') for x in names if x != 'local' and 'local' in names]:
        rat = [fps[(k, a)] / fps[(k, b)] for k in rounds if (k, a) in fps and (k, b) in fps]
        if rat:
            lines.append(f"{a}/{b} = {S.median(rat):.2f} (range {min(rat):.2f}-{max(rat):.2f})")
    print("\nPaired per-round files/s ratios, median: " + "; ".join(lines))
