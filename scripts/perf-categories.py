#!/usr/bin/env python3
# Shares of each process's samples by what the stack is doing (first match
# in the order below, looking at the whole stack).
import sys, collections
rules = [
    ("idle / parked (waiting for work)", ["park_timeout", "park_internal", "Parker::park", "epoll_wait", "futex_wait", "Condvar::wait"]),
    ("log append (write + fsync)", ["append_entries<", "log_store::append_entries", "LogFile::append", "fdatasync", "fsync"]),
    ("state-machine apply", ["state_machine::StateMachineStore", "SchedulerState>::apply", "apply_one"]),
    ("dispatcher (placement, Assign messages)", ["dispatch::Dispatcher", "DispatchBook"]),
    ("proposer / Raft core", ["proposer::run", "openraft::core::raft_core", "openraft::engine"]),
    ("Raft replication + RPC (both sides)", ["openraft::replication", "RaftService", "network::", "raft_server"]),
    ("executor stream + watch (gRPC)", ["executor_service", "admin::AdminService", "watch", "Streaming", "EncodeBody", "encode_chunk"]),
    ("executor actors + runner", ["baton_executor::"]),
    ("h2 / hyper / tcp", ["h2::", "hyper::", "tcp_", "sock_", "tonic::"]),
    ("tokio scheduling", ["tokio::runtime"]),
    # glibc has no unwind tables here, so these stacks stop at libc: callers unknown.
    ("malloc/free/memcpy/memcmp (callers not unwound)", ["malloc", "free", "memcpy", "memmove", "memcmp", "unlink_chunk"]),
]
per = collections.defaultdict(collections.Counter)
for line in open(sys.argv[1]):
    stack, n = line.rsplit(' ', 1)
    proc = stack.split(';', 1)[0]
    cat = "other"
    for name, keys in rules:
        if any(k in stack for k in keys):
            cat = name
            break
    per[proc][cat] += int(n)
total = sum(sum(c.values()) for c in per.values())
for proc, c in sorted(per.items(), key=lambda x: -sum(x[1].values())):
    t = sum(c.values())
    if t < total * 0.02: continue
    print(f"{proc}: {100*t/total:.1f}% of all samples")
    for cat, n in c.most_common():
        if n >= t * 0.02:
            print(f"    {100*n/t:5.1f}%  {cat}")
