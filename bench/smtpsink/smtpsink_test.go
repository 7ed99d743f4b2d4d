package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/smtp"
	"net/textproto"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// startSink runs an SMTP server on a free loopback port until the test ends.
func startSink(t *testing.T) (*Store, string) {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	store := NewStore()
	go (&SMTPServer{Store: store, Hostname: "sink.test"}).Serve(listener)
	t.Cleanup(func() { listener.Close() })
	return store, listener.Addr().String()
}

type client struct {
	t    *testing.T
	conn *textproto.Conn
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	conn, err := textproto.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &client{t, conn}
	c.expect(220)
	return c
}

// expect reads one (possibly multi-line) reply and checks its code.
func (c *client) expect(code int) string {
	c.t.Helper()
	got, message, err := c.conn.ReadResponse(code)
	if err != nil {
		c.t.Fatalf("expected %d, got %d %q (%v)", code, got, message, err)
	}
	return message
}

func (c *client) send(code int, format string, args ...interface{}) string {
	c.t.Helper()
	if err := c.conn.PrintfLine(format, args...); err != nil {
		c.t.Fatal(err)
	}
	return c.expect(code)
}

func TestDialogueAcceptsAMessageAndAnswersEachCommand(t *testing.T) {
	store, addr := startSink(t)
	c := dial(t, addr)
	c.send(503, "MAIL FROM:<a@example.com>") // before EHLO
	ehlo := c.send(250, "EHLO client.test")
	for _, extension := range []string{"8BITMIME", "SMTPUTF8", "PIPELINING", "SIZE"} {
		if !strings.Contains(ehlo, extension) {
			t.Errorf("EHLO does not advertise %s: %q", extension, ehlo)
		}
	}
	c.send(503, "RCPT TO:<b@example.com>") // before MAIL
	c.send(503, "DATA")
	c.send(501, "MAIL FROM a@example.com")
	c.send(250, "MAIL FROM:<a@example.com> BODY=8BITMIME SMTPUTF8")
	c.send(503, "MAIL FROM:<again@example.com>")
	c.send(503, "DATA") // no recipient yet
	c.send(250, "RCPT TO:<b@example.com>")
	c.send(250, "rcpt to:<C@Example.com>")
	c.send(250, "NOOP")
	c.send(502, "VRFY b@example.com")
	c.send(502, "STARTTLS")
	c.send(500, "")
	c.send(354, "DATA")
	c.send(250, "Subject: hi\r\n\r\nbody\r\n.")
	c.send(250, "RSET")
	c.send(503, "RCPT TO:<b@example.com>") // RSET forgot the envelope
	c.send(221, "QUIT")

	messages := store.Messages()
	if len(messages) != 1 {
		t.Fatalf("want 1 message, got %d", len(messages))
	}
	m := messages[0]
	if m.ID != 1 || m.MailFrom != "a@example.com" || strings.Join(m.RcptTos, ",") != "b@example.com,C@Example.com" {
		t.Errorf("envelope: %d %q %q", m.ID, m.MailFrom, m.RcptTos)
	}
	if string(m.Raw) != "Subject: hi\r\n\r\nbody\r\n" {
		t.Errorf("raw: %q", m.Raw)
	}
}

func TestHeloAndNullSenderAreAccepted(t *testing.T) {
	store, addr := startSink(t)
	c := dial(t, addr)
	c.send(501, "HELO")
	c.send(250, "HELO client.test")
	c.send(250, "MAIL FROM:<>")
	c.send(250, "RCPT TO:<b@example.com>")
	c.send(354, "DATA")
	c.send(250, "\r\nbounce\r\n.")
	if m := store.Messages(); len(m) != 1 || m[0].MailFrom != "" {
		t.Fatalf("null sender: %+v", m)
	}
}

func TestDataUndoesDotStuffing(t *testing.T) {
	store, addr := startSink(t)
	c := dial(t, addr)
	c.send(250, "EHLO client.test")
	c.send(250, "MAIL FROM:<a@example.com>")
	c.send(250, "RCPT TO:<b@example.com>")
	c.send(354, "DATA")
	c.send(250, "Subject: dots\r\n\r\n..starts with a dot\r\n...\r\nmiddle . dot\r\n.")
	want := "Subject: dots\r\n\r\n.starts with a dot\r\n..\r\nmiddle . dot\r\n"
	if got := string(store.Messages()[0].Raw); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := *store.Messages()[0].Text(); got != ".starts with a dot\n..\nmiddle . dot\n" {
		t.Errorf("text %q", got)
	}
}

func TestPipelinedCommandsGetTheirRepliesInOrder(t *testing.T) {
	store, addr := startSink(t)
	c := dial(t, addr)
	c.send(250, "EHLO client.test")
	batch := "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n"
	if _, err := c.conn.W.WriteString(batch); err != nil {
		t.Fatal(err)
	}
	c.conn.W.Flush()
	for _, code := range []int{250, 250, 250, 354} {
		c.expect(code)
	}
	c.send(250, "\r\nx\r\n.")
	if n := len(store.Messages()[0].RcptTos); n != 2 {
		t.Errorf("recipients: %d", n)
	}
}

func TestAnOverlongCommandIsRefusedAndTheSessionGoesOn(t *testing.T) {
	_, addr := startSink(t)
	c := dial(t, addr)
	c.send(500, "NOOP %s", strings.Repeat("x", 40000))
	c.send(250, "NOOP")
}

func TestANetSMTPClientAndManyConnectionsAtOnce(t *testing.T) {
	store, addr := startSink(t)
	const senders, each = 20, 5
	var wg sync.WaitGroup
	errs := make(chan error, senders*each)
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			for k := 0; k < each; k++ {
				body := fmt.Sprintf("Subject: %d-%d\r\n\r\nhello\r\n", s, k)
				to := []string{fmt.Sprintf("u%d@example.com", s)}
				errs <- smtp.SendMail(addr, nil, "from@example.com", to, []byte(body))
			}
		}(s)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	messages := store.Messages()
	if len(messages) != senders*each {
		t.Fatalf("want %d messages, got %d", senders*each, len(messages))
	}
	seen := map[int64]bool{}
	for _, m := range messages {
		seen[m.ID] = true
	}
	if len(seen) != senders*each {
		t.Errorf("ids are not unique: %d distinct", len(seen))
	}
}

// A message as Django's EmailMultiAlternatives writes it (utf-8 subject as an encoded word,
// the text part quoted-printable, the HTML part base64).
const djangoMessage = "Content-Type: multipart/alternative;\r\n" +
	" boundary=\"===============1234==\"\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Subject: =?utf-8?q?Bienvenue_=C3=A0_bord?=\r\n" +
	"From: Sender <from@example.com>\r\n" +
	"To: to@example.com\r\n" +
	"X-Notification-ID: 0b5c6f7e-1111-4222-8333-444455556666\r\n" +
	"X-Long: first\r\n" +
	" second\r\n" +
	"\r\n" +
	"--===============1234==\r\n" +
	"Content-Type: text/plain; charset=\"utf-8\"\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"Hello Ren=C3=A9e, bench-seq=3D42 and a long line that is soft broken by quoted=\r\n" +
	"-printable.\r\n" +
	".a line that started with a dot\r\n" +
	"\r\n" +
	"--===============1234==\r\n" +
	"Content-Type: text/html; charset=\"utf-8\"\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"PHA+SGVsbG8gUmVuw6llPC9wPg==\r\n" +
	"\r\n" +
	"--===============1234==--\r\n"

func TestMultipartTextAndHTMLPartsAreDecoded(t *testing.T) {
	m := NewStore().Add("from@example.com", []string{"to@example.com"}, []byte(djangoMessage))
	wantText := "Hello Renée, bench-seq=42 and a long line that is soft broken by quoted-printable.\n" +
		".a line that started with a dot\n"
	if m.Text() == nil || *m.Text() != wantText {
		t.Errorf("text: %q", *m.Text())
	}
	if m.HTML() == nil || *m.HTML() != "<p>Hello Renée</p>" {
		t.Errorf("html: %v", m.HTML())
	}
	if subject, _ := m.Header("subject"); subject != "Bienvenue à bord" {
		t.Errorf("subject: %q", subject)
	}
	if id, _ := m.Header("X-Notification-ID"); id != "0b5c6f7e-1111-4222-8333-444455556666" {
		t.Errorf("notification id: %q", id)
	}
	if long, _ := m.Header("X-Long"); long != "first second" {
		t.Errorf("folded header: %q", long)
	}
}

func TestASinglePartMessageIsItsOwnText(t *testing.T) {
	m := NewStore().Add("a@b", []string{"c@d"}, []byte("Subject: s\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"+
		"Content-Transfer-Encoding: 8bit\r\n\r\nRen\xe9e\r\n"))
	if m.Text() == nil || *m.Text() != "Renée\n" || m.HTML() != nil {
		t.Errorf("text %v html %v", m.Text(), m.HTML())
	}
	bare := NewStore().Add("a@b", []string{"c@d"}, []byte("Subject: s\r\n\r\nplain body\r\n"))
	if bare.Text() == nil || *bare.Text() != "plain body\n" {
		t.Errorf("no Content-Type: %v", bare.Text())
	}
}

func TestUnreadableMIMEFallsBackToTheRawBody(t *testing.T) {
	raw := "Content-Type: multipart/alternative\r\n\r\nno boundary, bench-seq=7\r\n"
	m := NewStore().Add("a@b", []string{"c@d"}, []byte(raw))
	if m.Text() == nil || *m.Text() != "no boundary, bench-seq=7\n" {
		t.Errorf("text: %q", *m.Text())
	}
	broken := "Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!not base64!!\r\n"
	if m := NewStore().Add("a@b", []string{"c@d"}, []byte(broken)); m.Text() == nil || *m.Text() != "!!not base64!!\n" {
		t.Errorf("broken base64: %v", m.Text())
	}
}

func TestAnHTMLOnlyMessageHasNoText(t *testing.T) {
	raw := "Content-Type: text/html; charset=utf-8\r\n\r\n<p>x</p>\r\n"
	m := NewStore().Add("a@b", []string{"c@d"}, []byte(raw))
	if m.Text() != nil || m.HTML() == nil || *m.HTML() != "<p>x</p>\n" {
		t.Errorf("text %v html %v", m.Text(), m.HTML())
	}
}

func getJSON(t *testing.T, handler http.Handler, method, target string, wantStatus int, into interface{}) {
	t.Helper()
	recorder := httptest.NewRecorder()
	handler.ServeHTTP(recorder, httptest.NewRequest(method, target, nil))
	if recorder.Code != wantStatus {
		t.Fatalf("%s %s: status %d, want %d: %s", method, target, recorder.Code, wantStatus, recorder.Body)
	}
	if ct := recorder.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if err := json.Unmarshal(recorder.Body.Bytes(), into); err != nil {
		t.Fatalf("%s %s: %v: %s", method, target, err, recorder.Body)
	}
}

// Python's datetime.isoformat() of an aware UTC time: what fromisoformat() reads back.
var pythonISOFormat = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$`)

func TestAPIShapesAreThePythonServers(t *testing.T) {
	store := NewStore()
	api := NewAPI(store, 2525)
	before := time.Now()
	store.Add("from@example.com", []string{"to@example.com"}, []byte(djangoMessage))
	store.Add("from@example.com", []string{"Other@Example.com"}, []byte("Subject: two\r\n\r\nsecond\r\n"))

	var health map[string]interface{}
	getJSON(t, api, "GET", "/health", 200, &health)
	if health["status"] != "ok" || health["messages"] != 2.0 || health["smtp_port"] != 2525.0 || health["down"] != false {
		t.Errorf("health: %v", health)
	}

	var all []map[string]interface{}
	getJSON(t, api, "GET", "/messages", 200, &all)
	if len(all) != 2 {
		t.Fatalf("messages: %v", all)
	}
	first := all[0]
	for _, key := range []string{"id", "from", "to", "subject", "notification_id", "headers", "text", "html", "received_at"} {
		if _, ok := first[key]; !ok {
			t.Errorf("message has no %q: %v", key, first)
		}
	}
	if first["id"] != 1.0 || first["from"] != "from@example.com" || first["subject"] != "Bienvenue à bord" {
		t.Errorf("first: %v", first)
	}
	if to := first["to"].([]interface{}); len(to) != 1 || to[0] != "to@example.com" {
		t.Errorf("to: %v", first["to"])
	}
	if headers := first["headers"].(map[string]interface{}); headers["X-Notification-ID"] != first["notification_id"] {
		t.Errorf("headers keep the names as sent: %v", headers)
	}
	receivedAt := first["received_at"].(string)
	if !pythonISOFormat.MatchString(receivedAt) {
		t.Errorf("received_at %q is not Python's isoformat", receivedAt)
	}
	if at, err := time.Parse(time.RFC3339Nano, receivedAt); err != nil || at.Before(before.Add(-time.Second)) {
		t.Errorf("received_at %q: %v", receivedAt, err)
	}
	if second := all[1]; second["notification_id"] != nil || second["html"] != nil || second["text"] != "second\n" {
		t.Errorf("second: %v", second)
	}

	var found []map[string]interface{}
	getJSON(t, api, "GET", "/messages?notification_id=0b5c6f7e-1111-4222-8333-444455556666", 200, &found)
	if len(found) != 1 || found[0]["id"] != 1.0 {
		t.Errorf("by notification id: %v", found)
	}
	getJSON(t, api, "GET", "/messages?to=other@example.com", 200, &found)
	if len(found) != 1 || found[0]["id"] != 2.0 {
		t.Errorf("by recipient: %v", found)
	}
	getJSON(t, api, "GET", "/messages?notification_id=", 200, &found)
	if len(found) != 2 {
		t.Errorf("a blank filter filters nothing: %v", found)
	}

	var deleted map[string]int
	getJSON(t, api, "DELETE", "/messages", 200, &deleted)
	if deleted["deleted"] != 2 {
		t.Errorf("deleted: %v", deleted)
	}
	getJSON(t, api, "GET", "/messages", 200, &found)
	if len(found) != 0 {
		t.Errorf("after DELETE: %v", found)
	}
	getJSON(t, api, "GET", "/health", 200, &health)
	if health["messages"] != 0.0 {
		t.Errorf("health after DELETE: %v", health)
	}
	if m := store.Add("a@b", []string{"c@d"}, []byte("\r\nx\r\n")); m.ID != 3 {
		t.Errorf("ids go on counting after a DELETE: %d", m.ID)
	}

	var failure map[string]string
	getJSON(t, api, "POST", "/control", 501, &failure)
	getJSON(t, api, "GET", "/nowhere", 404, &failure)
	getJSON(t, api, "POST", "/messages", 405, &failure)
	if failure["error"] == "" {
		t.Errorf("an error answer says why: %v", failure)
	}
}
