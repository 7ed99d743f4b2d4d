// Command smtpsink is the benchmarks' SMTP server: it accepts every message, keeps it in
// memory and shows it through the same JSON HTTP API as the Python loopback server
// (notification_devtools/loopback/smtp.py), at a small share of that server's CPU.
//
// It stands for an external relay, which is not part of the platform being measured, so like
// the load generator (bench/loadgen) it is compiled and its cost stays out of the way. It has
// none of the Python server's failure scripts (POST /control answers 501): the e2e and chaos
// suites keep the Python server. Standard library only.
//
//	smtpsink -host 127.0.0.1 -port 1025 -http-port 8025
//
// SMTP (the RFC 5321 subset real clients use): EHLO/HELO, MAIL FROM, RCPT TO, DATA (with
// dot-unstuffing), RSET, NOOP, QUIT; anything else is answered 502. One goroutine per
// connection; replies are flushed only when the client has sent nothing more, so a client
// that pipelines gets them in one write.
//
// HTTP:
//
//	GET    /health                                  -> {"status": "ok", "messages": n, ...}
//	GET    /messages[?notification_id=X][&to=ADDR]  -> [{id, from, to, subject, notification_id,
//	                                                   headers, text, html, received_at}]
//	DELETE /messages                                -> {"deleted": n}
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	host := flag.String("host", "127.0.0.1", "address to listen on")
	port := flag.Int("port", 1025, "SMTP port (0: a free one, printed)")
	httpPort := flag.Int("http-port", -1, "port of the JSON HTTP API (0: a free one, printed; -1: none)")
	flag.Parse()

	store := NewStore()
	smtpListener, err := net.Listen("tcp", net.JoinHostPort(*host, strconv.Itoa(*port)))
	if err != nil {
		fmt.Fprintf(os.Stderr, "smtpsink: %v\n", err)
		os.Exit(1)
	}
	server := &SMTPServer{Store: store, Hostname: "smtpsink.localhost"}
	go server.Serve(smtpListener)
	smtpPort := smtpListener.Addr().(*net.TCPAddr).Port

	extra := ""
	if *httpPort >= 0 {
		httpListener, err := net.Listen("tcp", net.JoinHostPort(*host, strconv.Itoa(*httpPort)))
		if err != nil {
			fmt.Fprintf(os.Stderr, "smtpsink: %v\n", err)
			os.Exit(1)
		}
		api := &http.Server{Handler: NewAPI(store, smtpPort), ReadHeaderTimeout: 30 * time.Second}
		go api.Serve(httpListener)
		extra = fmt.Sprintf(", HTTP API on http://%s", httpListener.Addr())
	}
	// The launcher and the tests read this line to know the server is up (and its ports).
	fmt.Printf("[smtp] listening on %s%s\n", smtpListener.Addr(), extra)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	smtpListener.Close()
	fmt.Printf("[smtp] stopped (%d message(s) held)\n", store.Len())
}
