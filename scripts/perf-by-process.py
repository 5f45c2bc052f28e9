#!/usr/bin/env python3
# perf script (-F +pid) output -> the same with each sample's comm replaced
# by its process's binary (its main thread's last comm, i.e. after exec), so
# tokio worker threads group by process. The busiest scheduler is labelled
# the leader (followers only replicate).
import re, sys, collections
text = open(sys.argv[1], errors='replace').read().split('\n')
hdr = re.compile(r'^(\S.*?)\s+(\d+)/(\d+)\s')
names, samples = {}, collections.Counter()
for l in text:
    m = hdr.match(l)
    if m:
        samples[m.group(2)] += 1
        if m.group(2) == m.group(3):
            names[m.group(2)] = m.group(1).strip()
schedulers = [p for p in names if names[p] == 'baton-scheduler']
if schedulers:
    leader = max(schedulers, key=lambda p: samples[p])
    for p in schedulers:
        names[p] = 'baton-scheduler_(leader)' if p == leader else 'baton-scheduler_(follower)'
names = {p: ('baton_(bench_client)' if n == 'baton' else n) for p, n in names.items()}
out = sys.stdout
for l in text:
    m = hdr.match(l)
    if m:
        l = names.get(m.group(2), m.group(1).strip()).replace(' ', '_') + l[len(m.group(1)):]
    out.write(l + '\n')
