package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func readRecords(t *testing.T, path string) ([]Record, map[string]interface{}) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var records []Record
	var summary map[string]interface{}
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 1<<20), 1<<24)
	for scanner.Scan() {
		line := scanner.Bytes()
		if strings.Contains(string(line), `"summary":true`) {
			json.Unmarshal(line, &summary)
			continue
		}
		var r Record
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatal(err)
		}
		records = append(records, r)
	}
	return records, summary
}

// A slow server does not slow the sending: every request leaves at its due time (open loop).
func TestOpenLoopDoesNotWaitForAnswers(t *testing.T) {
	var bodies int64
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		if !strings.Contains(string(raw), `"name":"Ann \"A\""`) && !strings.Contains(string(raw), `"name":"Bob"`) {
			t.Errorf("body not substituted: %s", raw)
		}
		atomic.AddInt64(&bodies, 1)
		time.Sleep(300 * time.Millisecond)
		w.WriteHeader(202)
		fmt.Fprintf(w, `{"success":true,"data":{"notification_id":"id-%s"}}`, r.Header.Get("X-Seq"))
	}))
	defer server.Close()
	dir := t.TempDir()
	users := filepath.Join(dir, "users.tsv")
	os.WriteFile(users, []byte("u1\tAnn \"A\"\nu2\tBob\n"), 0o644)
	out := filepath.Join(dir, "out.jsonl")
	plan := Plan{
		URL: server.URL, Rate: 50, Count: 25, Connections: 100, KeepAlive: true, Timeout: 5, Out: out,
		Template: `{"user_id":"{user}","variables":{"seq":"{seq}","name":"{name}"}}`,
		Headers:  []string{"X-API-Key: k"},
	}
	users2, _ := loadUsers(users)
	start := time.Now()
	if err := generate(plan, nil, users2); err != nil {
		t.Fatal(err)
	}
	// 25 requests at 50/s leave within 0.5 s; answered 0.3 s later: well under 25 x 0.3 s.
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Fatalf("took %v: the sender waited for answers", elapsed)
	}
	records, summary := readRecords(t, out)
	if len(records) != 25 || bodies != 25 {
		t.Fatalf("%d records, %d bodies", len(records), bodies)
	}
	for _, r := range records {
		if r.Status != 202 || r.ID == "" || r.Answered-r.Due < 0.29 {
			t.Fatalf("record %+v", r)
		}
	}
	if summary == nil || summary["items"].(float64) != 25 {
		t.Fatalf("summary %v", summary)
	}
}

func TestBulkSendsItemsPerRequestAndKeepsPerItemResults(t *testing.T) {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Notifications []map[string]string `json:"notifications"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		results := make([]string, len(body.Notifications))
		for i, item := range body.Notifications {
			results[i] = fmt.Sprintf(`{"index":%d,"outcome":"accepted","notification":{"notification_id":"n-%s"}}`, i, item["s"])
		}
		w.WriteHeader(202)
		fmt.Fprintf(w, `{"success":true,"data":{"results":[%s]}}`, strings.Join(results, ","))
	}))
	defer server.Close()
	out := filepath.Join(t.TempDir(), "out.jsonl")
	plan := Plan{URL: server.URL, Rate: 100, Count: 7, Bulk: 3, SeqStart: 40, Connections: 4, Timeout: 5, Out: out, Template: `{"s":"{seq}"}`}
	if err := generate(plan, nil, []user{{}}); err != nil {
		t.Fatal(err)
	}
	records, _ := readRecords(t, out)
	got := map[int]int{}
	for _, r := range records {
		got[r.Seq] = r.N
		if len(r.Items) != r.N || r.Items[0].ID != fmt.Sprintf("n-%d", r.Seq) {
			t.Fatalf("record %+v", r)
		}
	}
	if fmt.Sprint(got) != "map[40:3 43:3 46:1]" {
		t.Fatalf("requests %v", got)
	}
}

func TestRefusalsKeepStatusAndRetryAfter(t *testing.T) {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(503)
		fmt.Fprint(w, `{"success":false,"data":null,"error":"overloaded"}`)
	}))
	defer server.Close()
	out := filepath.Join(t.TempDir(), "out.jsonl")
	plan := Plan{URL: server.URL, Rate: 100, Count: 2, Connections: 2, Timeout: 5, Out: out, Template: `{}`}
	if err := generate(plan, nil, []user{{}}); err != nil {
		t.Fatal(err)
	}
	records, _ := readRecords(t, out)
	for _, r := range records {
		if r.Status != 503 || r.RetryAfter != "1" {
			t.Fatalf("record %+v", r)
		}
	}
}
