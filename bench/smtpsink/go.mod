module notification-platform/bench/smtpsink

go 1.19
