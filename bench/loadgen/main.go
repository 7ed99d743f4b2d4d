// Command loadgen is the benchmark's open-loop HTTP load generator (bench/capacity.py, make bench).
//
// Request i is due at start + i/rate and leaves then whether or not earlier answers came back;
// its latency counts from that due time, so a slow server shows as latency, not as a lower
// offered rate. At most -connections requests are in flight; one waiting for a slot is still
// timed from its due time. Each request's body comes from a template with {seq}, {user},
// {name} and {run} substituted (or from a file of bodies, one per line, used in turn).
// With -bulk N, N items of the template go in one request as {"notifications": [...]}
// (POST /api/v1/notifications/bulk/) and -rate counts items per second.
//
// Output: one JSON line per request (seq, n, due, answered, status, id or per-item results),
// then one summary line with the generator's own CPU time (getrusage). Standard library only.
//
//	loadgen -url http://127.0.0.1:8000/api/v1/notifications/ -header 'X-API-Key: k' \
//	    -rate 100 -duration 60 -template-file item.json -users users.tsv -out sent.jsonl
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Plan is every setting; a -plan JSON file fills it, flags given on the command line win.
type Plan struct {
	URL          string   `json:"url"`
	Headers      []string `json:"headers"`
	Rate         float64  `json:"rate"`
	Duration     float64  `json:"duration"`
	Count        int      `json:"count"`
	Template     string   `json:"template"`
	TemplateFile string   `json:"template_file"`
	BodiesFile   string   `json:"bodies_file"`
	UsersFile    string   `json:"users_file"`
	Bulk         int      `json:"bulk"`
	SeqStart     int      `json:"seq_start"`
	Run          string   `json:"run"`
	Connections  int      `json:"connections"`
	KeepAlive    bool     `json:"keepalive"`
	Timeout      float64  `json:"timeout"`
	Out          string   `json:"out"`
	StartDelay   float64  `json:"start_delay"`
}

type headerList []string

func (h *headerList) String() string     { return strings.Join(*h, ", ") }
func (h *headerList) Set(v string) error { *h = append(*h, v); return nil }

type user struct{ id, name string }

type itemResult struct {
	Index   int    `json:"i"`
	Outcome string `json:"o"`
	ID      string `json:"id,omitempty"`
	Status  int    `json:"s,omitempty"`
}

// Record is one request's line of output.
type Record struct {
	Seq        int          `json:"seq"`
	N          int          `json:"n"`
	Due        float64      `json:"due"`
	Answered   float64      `json:"answered"`
	Status     int          `json:"status"`
	ID         string       `json:"id,omitempty"`
	Items      []itemResult `json:"items,omitempty"`
	Timeout    bool         `json:"timeout,omitempty"`
	RetryAfter string       `json:"retry_after,omitempty"`
	Error      string       `json:"error,omitempty"`
	Body       string       `json:"body,omitempty"`
}

func epoch(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func loadUsers(path string) ([]user, error) {
	if path == "" {
		return []user{{id: "", name: ""}}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var users []user
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if line == "" {
			continue
		}
		parts := strings.SplitN(line, "\t", 2)
		u := user{id: parts[0]}
		if len(parts) == 2 {
			u.name = parts[1]
		}
		users = append(users, u)
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("%s: no users", path)
	}
	return users, scanner.Err()
}

func loadBodies(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var bodies []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) != "" {
			bodies = append(bodies, line)
		}
	}
	if len(bodies) == 0 {
		return nil, fmt.Errorf("%s: no bodies", path)
	}
	return bodies, nil
}

func jsonEscape(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

func main() {
	plan := Plan{Rate: 100, Duration: 10, Connections: 200, KeepAlive: true, Timeout: 30, StartDelay: 0.2}
	planFile := flag.String("plan", "", "JSON file with any of the settings below (flags given win)")
	var headers headerList
	url := flag.String("url", "", "target URL (POST)")
	flag.Var(&headers, "header", "request header 'Name: value' (repeatable), e.g. the API key")
	rate := flag.Float64("rate", plan.Rate, "items per second (requests per second unless -bulk)")
	duration := flag.Float64("duration", plan.Duration, "seconds of load")
	count := flag.Int("count", 0, "items to send (default rate x duration)")
	template := flag.String("template", "", "body (or bulk item) template with {seq} {user} {name} {run}")
	templateFile := flag.String("template-file", "", "file holding the template")
	bodiesFile := flag.String("bodies", "", "file of request bodies, one JSON per line, used in turn")
	usersFile := flag.String("users", "", "file of users, 'id<TAB>name' per line; item seq gets user seq mod count")
	bulk := flag.Int("bulk", 0, "items per request as {\"notifications\": [...]} (0: one body per request)")
	seqStart := flag.Int("seq-start", 0, "first sequence number")
	run := flag.String("run", "", "value of {run}")
	connections := flag.Int("connections", plan.Connections, "most requests in flight at once")
	keepAlive := flag.Bool("keepalive", plan.KeepAlive, "reuse connections")
	timeout := flag.Float64("timeout", plan.Timeout, "seconds before a request counts as a client timeout")
	out := flag.String("out", "", "output file (default stdout)")
	startDelay := flag.Float64("start-delay", plan.StartDelay, "seconds from start-up to the first due time")
	flag.Parse()

	if *planFile != "" {
		data, err := os.ReadFile(*planFile)
		if err != nil {
			fail(err)
		}
		if err := json.Unmarshal(data, &plan); err != nil {
			fail(fmt.Errorf("%s: %w", *planFile, err))
		}
	}
	flag.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "url":
			plan.URL = *url
		case "header":
			plan.Headers = append(plan.Headers, headers...)
		case "rate":
			plan.Rate = *rate
		case "duration":
			plan.Duration = *duration
		case "count":
			plan.Count = *count
		case "template":
			plan.Template = *template
		case "template-file":
			plan.TemplateFile = *templateFile
		case "bodies":
			plan.BodiesFile = *bodiesFile
		case "users":
			plan.UsersFile = *usersFile
		case "bulk":
			plan.Bulk = *bulk
		case "seq-start":
			plan.SeqStart = *seqStart
		case "run":
			plan.Run = *run
		case "connections":
			plan.Connections = *connections
		case "keepalive":
			plan.KeepAlive = *keepAlive
		case "timeout":
			plan.Timeout = *timeout
		case "out":
			plan.Out = *out
		case "start-delay":
			plan.StartDelay = *startDelay
		}
	})
	if plan.URL == "" || plan.Rate <= 0 {
		fail(errors.New("-url and a positive -rate are required"))
	}
	if plan.TemplateFile != "" {
		data, err := os.ReadFile(plan.TemplateFile)
		if err != nil {
			fail(err)
		}
		plan.Template = strings.TrimSpace(string(data))
	}
	var bodies []string
	if plan.BodiesFile != "" {
		var err error
		if bodies, err = loadBodies(plan.BodiesFile); err != nil {
			fail(err)
		}
	} else if plan.Template == "" {
		fail(errors.New("give -template, -template-file or -bodies"))
	}
	users, err := loadUsers(plan.UsersFile)
	if err != nil {
		fail(err)
	}
	if err := generate(plan, bodies, users); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "loadgen:", err)
	os.Exit(2)
}

func generate(plan Plan, bodies []string, users []user) error {
	items := plan.Count
	if items <= 0 {
		items = int(plan.Rate*plan.Duration + 0.5)
	}
	perRequest := 1
	if plan.Bulk > 0 {
		perRequest = plan.Bulk
	}
	requests := (items + perRequest - 1) / perRequest
	interval := float64(perRequest) / plan.Rate // seconds between requests

	var sink io.Writer = os.Stdout
	if plan.Out != "" && plan.Out != "-" {
		f, err := os.Create(plan.Out)
		if err != nil {
			return err
		}
		defer f.Close()
		sink = f
	}
	writer := bufio.NewWriterSize(sink, 1<<20)
	defer writer.Flush()
	var mu sync.Mutex
	emit := func(v interface{}) {
		line, _ := json.Marshal(v)
		mu.Lock()
		writer.Write(line)
		writer.WriteByte('\n')
		mu.Unlock()
	}

	transport := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        plan.Connections,
		MaxIdleConnsPerHost: plan.Connections,
		MaxConnsPerHost:     plan.Connections,
		IdleConnTimeout:     4 * time.Second, // under gunicorn's keep-alive of 5 s
		DisableKeepAlives:   !plan.KeepAlive,
		DisableCompression:  true,
	}
	client := &http.Client{Transport: transport, Timeout: time.Duration(plan.Timeout * float64(time.Second))}
	slots := make(chan struct{}, plan.Connections)

	item := func(seq int) string {
		if bodies != nil {
			return bodies[(seq-plan.SeqStart)%len(bodies)]
		}
		u := users[seq%len(users)]
		return strings.NewReplacer(
			"{seq}", strconv.Itoa(seq), "{user}", jsonEscape(u.id), "{name}", jsonEscape(u.name), "{run}", jsonEscape(plan.Run),
		).Replace(plan.Template)
	}

	start := time.Now().Add(time.Duration(plan.StartDelay * float64(time.Second)))
	var wg sync.WaitGroup
	for r := 0; r < requests; r++ {
		first := plan.SeqStart + r*perRequest
		n := perRequest
		if remaining := plan.SeqStart + items - first; remaining < n {
			n = remaining
		}
		due := start.Add(time.Duration(float64(r) * interval * float64(time.Second)))
		// Build the body before its due time, then sleep to it: building costs no latency.
		var body []byte
		if plan.Bulk > 0 {
			var buf bytes.Buffer
			buf.WriteString(`{"notifications":[`)
			for k := 0; k < n; k++ {
				if k > 0 {
					buf.WriteByte(',')
				}
				buf.WriteString(item(first + k))
			}
			buf.WriteString("]}")
			body = buf.Bytes()
		} else {
			body = []byte(item(first))
		}
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		}
		wg.Add(1)
		go func(first, n int, due time.Time, body []byte) {
			defer wg.Done()
			record := Record{Seq: first, N: n, Due: epoch(due)}
			slots <- struct{}{}
			send(client, plan, body, &record)
			<-slots
			record.Answered = epoch(time.Now())
			emit(record)
		}(first, n, due, body)
	}
	wg.Wait()
	wall := time.Since(start).Seconds()

	var usage syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &usage)
	emit(map[string]interface{}{
		"summary":    true,
		"requests":   requests,
		"items":      items,
		"wall_s":     wall,
		"cpu_user_s": float64(usage.Utime.Sec) + float64(usage.Utime.Usec)/1e6,
		"cpu_sys_s":  float64(usage.Stime.Sec) + float64(usage.Stime.Usec)/1e6,
		"max_rss_kb": usage.Maxrss,
	})
	return nil
}

func send(client *http.Client, plan Plan, body []byte, record *Record) {
	request, err := http.NewRequest(http.MethodPost, plan.URL, bytes.NewReader(body))
	if err != nil {
		record.Status, record.Error = -1, err.Error()
		return
	}
	request.Header.Set("Content-Type", "application/json")
	for _, header := range plan.Headers {
		name, value, found := strings.Cut(header, ":")
		if found {
			request.Header.Set(strings.TrimSpace(name), strings.TrimSpace(value))
		}
	}
	response, err := client.Do(request)
	if err != nil {
		record.Status, record.Error = -1, err.Error()
		var netErr net.Error
		record.Timeout = errors.As(err, &netErr) && netErr.Timeout()
		return
	}
	raw, err := io.ReadAll(response.Body)
	response.Body.Close()
	record.Status = response.StatusCode
	record.RetryAfter = response.Header.Get("Retry-After")
	if err != nil {
		record.Error = err.Error()
		return
	}
	var envelope struct {
		Data json.RawMessage `json:"data"`
	}
	if json.Unmarshal(raw, &envelope) != nil {
		record.Body = truncate(raw)
		return
	}
	if plan.Bulk > 0 {
		var bulk struct {
			Results []struct {
				Index        int    `json:"index"`
				Outcome      string `json:"outcome"`
				StatusCode   int    `json:"status_code"`
				Notification *struct {
					ID string `json:"notification_id"`
				} `json:"notification"`
			} `json:"results"`
		}
		if json.Unmarshal(envelope.Data, &bulk) == nil && bulk.Results != nil {
			record.Items = make([]itemResult, len(bulk.Results))
			for k, result := range bulk.Results {
				record.Items[k] = itemResult{Index: result.Index, Outcome: result.Outcome, Status: result.StatusCode}
				if result.Notification != nil {
					record.Items[k].ID = result.Notification.ID
				}
			}
		}
	} else {
		var one struct {
			ID string `json:"notification_id"`
		}
		if json.Unmarshal(envelope.Data, &one) == nil {
			record.ID = one.ID
		}
	}
	if record.Status >= 300 {
		record.Body = truncate(raw)
	}
}

func truncate(raw []byte) string {
	if len(raw) > 300 {
		raw = raw[:300]
	}
	return string(raw)
}
