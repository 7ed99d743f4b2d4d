module notification-platform/bench/loadgen

go 1.19
