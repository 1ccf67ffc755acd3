// Command go-peer is the benchmark's Go peer: the bridge's job for C2C.CallbackAfterSendMsg,
// written by hand the way a Go team would (net/http, encoding/json, hamba/avro, franz-go), to
// show how close the bridge comes to a compiled implementation. Not a product: no spool, no
// routing of other commands, no metrics beyond GET /stats.
//
// POST /callback?<Tencent's query>: the query is authenticated as the bridge does (SdkAppid,
// then Sign = sha256hex(token + RequestTime) within ±window s), the body decoded with
// json.Unmarshal and mapped to the bridge's Avro record (the same registered schema; a faithful
// subset of the bridge's mapping, see toRecord), framed in the Confluent wire format and
// produced keyed by To_Account (acks=all, idempotent, Kafka's murmur2 partitioner, linger 5 ms,
// no compression, as the JVM peer). The OK reply goes out only once Kafka acknowledged.
//
//	go-peer -port P -brokers B -topic T -registry URL -schema FILE [-app ID] [-token T]
//
// Prints "listening PORT" once it serves.
package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
)

// okReply is OK_REPLY of src/tencent/reply.ts, byte for byte.
const okReply = `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`

const command = "C2C.CallbackAfterSendMsg"

func main() {
	port := flag.Int("port", 0, "HTTP port (0: any free one)")
	brokers := flag.String("brokers", "127.0.0.1:9092", "Kafka bootstrap brokers, comma-separated")
	topic := flag.String("topic", "", "topic to produce to")
	registry := flag.String("registry", "", "Confluent-compatible registry URL (e.g. http://127.0.0.1:8081/apis/ccompat/v7)")
	schemaFile := flag.String("schema", "", "the bridge's self-contained c2c-after-send-msg schema (JSON)")
	app := flag.String("app", os.Getenv("TENCENT_SDKAPPIDS"), "accepted SdkAppid")
	token := flag.String("token", os.Getenv("TENCENT_CALLBACK_TOKEN"), "Tencent callback token")
	window := flag.Int64("window", 60, "largest accepted |now - RequestTime|, seconds")
	bodyLimit := flag.Int64("body-limit", 65536, "largest accepted body, bytes")
	flag.Parse()
	if *topic == "" || *registry == "" || *schemaFile == "" || *app == "" || *token == "" {
		log.Fatal("-topic, -registry, -schema, -app and -token are required")
	}

	schemaText, err := os.ReadFile(*schemaFile)
	if err != nil {
		log.Fatal(err)
	}
	schema, err := avro.Parse(string(schemaText))
	if err != nil {
		log.Fatal(err)
	}
	id, err := register(*registry, *topic+"-value", string(schemaText))
	if err != nil {
		log.Fatal(err)
	}
	header := make([]byte, 5) // Confluent wire format: magic byte 0, then the schema id (big-endian)
	binary.BigEndian.PutUint32(header[1:], uint32(id))

	st := &stats{}
	client, err := kgo.NewClient(
		kgo.SeedBrokers(strings.Split(*brokers, ",")...),
		kgo.DefaultProduceTopic(*topic),
		kgo.ClientID("bench-go-peer"),
		kgo.RequiredAcks(kgo.AllISRAcks()), // idempotent: franz-go's default
		// nil: Kafka's own partitioner (murmur2 of the key, high bit masked, mod partitions)
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchCompression(kgo.NoCompression()), // franz-go's default is snappy
		kgo.WithHooks(st),
	)
	if err != nil {
		log.Fatal(err)
	}
	if err := client.Ping(context.Background()); err != nil {
		log.Fatal(err)
	}

	p := &peer{
		app:       *app,
		token:     *token,
		window:    *window,
		bodyLimit: *bodyLimit,
		schema:    schema,
		header:    header,
		client:    client,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /callback", p.callback)
	mux.HandleFunc("GET /stats", st.serve)
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		log.Fatal(err)
	}
	server := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := server.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	}()
	fmt.Printf("listening %d\n", ln.Addr().(*net.TCPAddr).Port)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = server.Shutdown(ctx)
	client.Close() // flushes what is buffered
}

// register registers the schema under subject (the Confluent-compatible REST API) and returns
// its id; registering a schema the subject already has returns the existing id.
func register(registry, subject, schema string) (int, error) {
	body, _ := json.Marshal(map[string]string{"schema": schema})
	res, err := http.Post(
		fmt.Sprintf("%s/subjects/%s/versions", strings.TrimRight(registry, "/"), url.PathEscape(subject)),
		"application/vnd.schemaregistry.v1+json", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	text, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("registering %s: HTTP %d %s", subject, res.StatusCode, text)
	}
	var reply struct{ ID int }
	if err := json.Unmarshal(text, &reply); err != nil || reply.ID <= 0 {
		return 0, fmt.Errorf("registering %s: no id in %s", subject, text)
	}
	return reply.ID, nil
}

type peer struct {
	app, token        string
	window, bodyLimit int64
	schema            avro.Schema
	header            []byte
	client            *kgo.Client
}

// httpError is a refusal: its status and Tencent's FAIL body.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func (p *peer) callback(w http.ResponseWriter, r *http.Request) {
	rec, err := p.record(w, r)
	if err != nil {
		var he *httpError
		if !errors.As(err, &he) {
			he = &httpError{http.StatusBadRequest, err.Error()}
		}
		reply(w, he.status, failReply(he.msg))
		return
	}
	// Produce with a callback, not ProduceSync: ProduceSync stops the partition's linger and
	// drains at once (since franz-go 1.20.7), which would turn off the 5 ms linger.
	acked := make(chan error, 1)
	p.client.Produce(r.Context(), rec, func(_ *kgo.Record, err error) { acked <- err })
	if err := <-acked; err != nil {
		reply(w, http.StatusServiceUnavailable, failReply("Kafka did not acknowledge the callback"))
		return
	}
	reply(w, http.StatusOK, okReply)
}

// record authenticates the request and turns its body into the Kafka record to produce.
func (p *peer) record(w http.ResponseWriter, r *http.Request) (*kgo.Record, error) {
	now := time.Now()
	q := r.URL.Query()
	if err := p.authenticate(q, now); err != nil {
		return nil, err
	}
	if q.Get("CallbackCommand") != command {
		return nil, &httpError{http.StatusBadRequest, "this peer only takes " + command}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, p.bodyLimit))
	if err != nil {
		return nil, &httpError{http.StatusRequestEntityTooLarge, "body too large or unreadable"}
	}
	rec, err := toRecord(body, q, now)
	if err != nil {
		return nil, err
	}
	value, err := avro.Marshal(p.schema, rec)
	if err != nil {
		return nil, err
	}
	framed := make([]byte, 0, len(p.header)+len(value))
	framed = append(append(framed, p.header...), value...)
	return &kgo.Record{Key: []byte(rec.ToAccount), Value: framed}, nil
}

var (
	seconds = regexp.MustCompile(`^\d{1,12}$`)
	hex64   = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// authenticate is src/tencent/authenticate.ts: 403 for another app, 401 for a bad signature.
func (p *peer) authenticate(q url.Values, now time.Time) error {
	if !q.Has("SdkAppid") && !q.Has("SdkAppId") {
		return &httpError{http.StatusForbidden, "SdkAppid is missing"}
	}
	if appID(q) != p.app {
		return &httpError{http.StatusForbidden, "this SdkAppid is not accepted here"}
	}
	sign, requestTime := q.Get("Sign"), q.Get("RequestTime")
	if !seconds.MatchString(requestTime) || !hex64.MatchString(sign) {
		return &httpError{http.StatusUnauthorized, "unauthenticated: Sign or RequestTime malformed"}
	}
	t, _ := strconv.ParseInt(requestTime, 10, 64)
	if math.Abs(float64(now.UnixMilli())/1000-float64(t)) > float64(p.window) {
		return &httpError{http.StatusUnauthorized, "unauthenticated: RequestTime is outside the accepted window"}
	}
	expected := sha256.Sum256([]byte(p.token + requestTime))
	given, _ := hex.DecodeString(sign)
	if !hmac.Equal(given, expected[:]) {
		return &httpError{http.StatusUnauthorized, "unauthenticated: Sign does not match"}
	}
	return nil
}

func reply(w http.ResponseWriter, status int, body string) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// failReply is failReply of src/tencent/reply.ts (the same keys in the same order).
func failReply(msg string) string {
	b, _ := json.Marshal(struct {
		ActionStatus string
		ErrorInfo    string
		ErrorCode    int
	}{"FAIL", msg, 1})
	return string(b)
}

// stats counts records and produce requests for GET /stats: recordsPerRequestAvg is records per
// produce request (as kafka-clients' records-per-request-avg: a request carries a batch per
// partition), over what was produced since the previous GET /stats.
type stats struct {
	records, requests atomic.Int64
}

func (s *stats) OnProduceBatchWritten(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.ProduceBatchMetrics) {
	s.records.Add(int64(m.NumRecords))
}

func (s *stats) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == 0 && err == nil { // 0: Produce
		s.requests.Add(1)
	}
}

func (s *stats) serve(w http.ResponseWriter, _ *http.Request) {
	records, requests := s.records.Swap(0), s.requests.Swap(0)
	avg := "null" // JSON has no NaN: the harness reads a missing average as undefined
	if requests > 0 {
		avg = strconv.FormatFloat(float64(records)/float64(requests), 'f', 3, 64)
	}
	reply(w, http.StatusOK, fmt.Sprintf(`{"recordsPerRequestAvg":%s,"records":%d,"produceRequests":%d}`, avg, records, requests))
}

// The Avro record of schemas/c2c-after-send-msg.avsc (tim.c2c.CallbackAfterSendMsg).
type record struct {
	SdkAppid                string             `avro:"SdkAppid"`
	OptPlatform             *string            `avro:"OptPlatform"`
	ClientIP                *string            `avro:"ClientIP"`
	ReceivedAt              time.Time          `avro:"ReceivedAt"`
	CallbackCommand         string             `avro:"CallbackCommand"`
	FromAccount             string             `avro:"From_Account"`
	ToAccount               string             `avro:"To_Account"`
	MsgSeq                  int64              `avro:"MsgSeq"`
	MsgRandom               int64              `avro:"MsgRandom"`
	MsgTime                 int64              `avro:"MsgTime"`
	MsgKey                  string             `avro:"MsgKey"`
	MsgID                   *string            `avro:"MsgId"`
	OnlineOnlyFlag          *int64             `avro:"OnlineOnlyFlag"`
	SendMsgResult           *int64             `avro:"SendMsgResult"`
	ErrorInfo               *string            `avro:"ErrorInfo"`
	UnreadMsgNum            *int64             `avro:"UnreadMsgNum"`
	MsgBody                 []msgElement       `avro:"MsgBody"`
	CloudCustomData         *string            `avro:"CloudCustomData"`
	EventTime               any                `avro:"EventTime"` // nil, int64 or string
	SupportMessageExtension *int64             `avro:"SupportMessageExtension"`
	Extra                   *map[string]string `avro:"_extra"`
}

type msgElement struct {
	MsgType    string             `avro:"MsgType"`
	MsgContent any                `avro:"MsgContent"` // one of the element records below
	Extra      *map[string]string `avro:"_extra"`
}

type textElem struct {
	Text  *string            `avro:"Text"`
	Extra *map[string]string `avro:"_extra"`
}

type customElem struct {
	Data  *string            `avro:"Data"`
	Desc  *string            `avro:"Desc"`
	Ext   *string            `avro:"Ext"`
	Sound *string            `avro:"Sound"`
	Extra *map[string]string `avro:"_extra"`
}

type faceElem struct {
	Index *int64             `avro:"Index"`
	Data  *string            `avro:"Data"`
	Extra *map[string]string `avro:"_extra"`
}

type locationElem struct {
	Desc      *string            `avro:"Desc"`
	Latitude  *float64           `avro:"Latitude"`
	Longitude *float64           `avro:"Longitude"`
	Extra     *map[string]string `avro:"_extra"`
}

// unknownElem keeps an element's MsgContent as its JSON text.
type unknownElem struct {
	JSON string `avro:"Json"`
}

func init() {
	// the names under which the MsgContent union's branches are chosen for a Go type
	avro.Register("tim.c2c.TIMTextElem", textElem{})
	avro.Register("tim.c2c.TIMCustomElem", customElem{})
	avro.Register("tim.c2c.TIMFaceElem", faceElem{})
	avro.Register("tim.c2c.TIMLocationElem", locationElem{})
	avro.Register("tim.c2c.UnknownElem", unknownElem{})
}

// toRecord maps a callback to its record as the bridge does (src/tencent/record.ts), for a subset
// of the element types: text, custom, face and location elements get their own records; others
// (images, sound, files, video, merged messages) are kept whole as UnknownElem, where the bridge
// gives them records of their own. Fields the schema does not name go to _extra as JSON text.
// Unlike the bridge, no JSON Schema validation beyond the types and required fields.
func toRecord(body []byte, q url.Values, now time.Time) (*record, error) {
	f, err := object(body)
	if err != nil {
		return nil, err
	}
	rec := &record{
		SdkAppid:                appID(q),
		OptPlatform:             param(q, "OptPlatform"),
		ClientIP:                param(q, "ClientIP"),
		ReceivedAt:              now,
		CallbackCommand:         req[string](f, "CallbackCommand"),
		FromAccount:             req[string](f, "From_Account"),
		ToAccount:               req[string](f, "To_Account"),
		MsgSeq:                  req[int64](f, "MsgSeq"),
		MsgRandom:               req[int64](f, "MsgRandom"),
		MsgTime:                 req[int64](f, "MsgTime"),
		MsgKey:                  req[string](f, "MsgKey"),
		MsgID:                   opt[string](f, "MsgId"),
		OnlineOnlyFlag:          opt[int64](f, "OnlineOnlyFlag"),
		SendMsgResult:           opt[int64](f, "SendMsgResult"),
		ErrorInfo:               opt[string](f, "ErrorInfo"),
		UnreadMsgNum:            opt[int64](f, "UnreadMsgNum"),
		CloudCustomData:         opt[string](f, "CloudCustomData"),
		SupportMessageExtension: opt[int64](f, "SupportMessageExtension"),
	}
	if raw := opt[json.RawMessage](f, "EventTime"); raw != nil { // a number or a string
		var s string
		var n int64
		if json.Unmarshal(*raw, &n) == nil {
			rec.EventTime = n
		} else if json.Unmarshal(*raw, &s) == nil {
			rec.EventTime = s
		} else if f.err == nil {
			f.err = errors.New("EventTime: neither an integer nor a string")
		}
	}
	for _, raw := range req[[]json.RawMessage](f, "MsgBody") {
		el, err := element(raw)
		if err != nil {
			return nil, fmt.Errorf("MsgBody: %w", err)
		}
		rec.MsgBody = append(rec.MsgBody, el)
	}
	if f.err != nil {
		return nil, f.err
	}
	if rec.MsgBody == nil {
		rec.MsgBody = []msgElement{}
	}
	rec.Extra = f.extra()
	return rec, nil
}

func element(raw json.RawMessage) (msgElement, error) {
	f, err := object(raw)
	if err != nil {
		return msgElement{}, err
	}
	el := msgElement{MsgType: req[string](f, "MsgType")}
	content := req[json.RawMessage](f, "MsgContent")
	el.Extra = f.extra()
	if f.err != nil {
		return el, f.err
	}
	c, err := object(content)
	if err != nil {
		return el, err
	}
	switch el.MsgType {
	case "TIMTextElem":
		el.MsgContent = textElem{Text: opt[string](c, "Text"), Extra: c.extra()}
	case "TIMCustomElem":
		el.MsgContent = customElem{
			Data: opt[string](c, "Data"), Desc: opt[string](c, "Desc"),
			Ext: opt[string](c, "Ext"), Sound: opt[string](c, "Sound"), Extra: c.extra(),
		}
	case "TIMFaceElem":
		el.MsgContent = faceElem{Index: opt[int64](c, "Index"), Data: opt[string](c, "Data"), Extra: c.extra()}
	case "TIMLocationElem":
		el.MsgContent = locationElem{
			Desc: opt[string](c, "Desc"), Latitude: opt[float64](c, "Latitude"),
			Longitude: opt[float64](c, "Longitude"), Extra: c.extra(),
		}
	default:
		el.MsgContent = unknownElem{JSON: string(content)}
	}
	return el, c.err
}

// fields is a JSON object being taken apart: what is left in m once the named fields are taken
// is the object's _extra; err is the first error.
type fields struct {
	m   map[string]json.RawMessage
	err error
}

func object(raw []byte) (*fields, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, &httpError{http.StatusBadRequest, "not a JSON object"}
	}
	return &fields{m: m}, nil
}

// req takes a required field; a missing one or one of another type is an error.
func req[T any](f *fields, key string) (v T) {
	raw, ok := f.m[key]
	delete(f.m, key)
	if f.err != nil {
		return v
	}
	if !ok || string(raw) == "null" {
		f.err = fmt.Errorf("%s is missing", key)
	} else if err := json.Unmarshal(raw, &v); err != nil {
		f.err = fmt.Errorf("%s: %w", key, err)
	}
	return v
}

// opt takes an optional field (nil when absent or null).
func opt[T any](f *fields, key string) *T {
	raw, ok := f.m[key]
	delete(f.m, key)
	if !ok || string(raw) == "null" || f.err != nil {
		return nil
	}
	v := new(T)
	if err := json.Unmarshal(raw, v); err != nil {
		f.err = fmt.Errorf("%s: %w", key, err)
		return nil
	}
	return v
}

// extra is what is left: field name -> the field's JSON text (nil when nothing is).
func (f *fields) extra() *map[string]string {
	if len(f.m) == 0 {
		return nil
	}
	out := make(map[string]string, len(f.m))
	for k, v := range f.m {
		out[k] = string(v)
	}
	return &out
}

// appID is the SdkAppid query parameter (SdkAppId also accepted, as by the bridge).
func appID(q url.Values) string {
	if q.Has("SdkAppid") {
		return q.Get("SdkAppid")
	}
	return q.Get("SdkAppId")
}

func param(q url.Values, key string) *string {
	if !q.Has(key) {
		return nil
	}
	v := q.Get(key)
	return &v
}
