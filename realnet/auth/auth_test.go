package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testIterations keeps hashing cheap in tests; the rules do not depend on
// the count.
const testIterations = 1000

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

func TestUsersAuthenticate(t *testing.T) {
	u := DefaultUsers(testIterations, "adminpw", DefaultPassword)
	for _, tc := range []struct {
		name, password string
		ok             bool
		groups         []string
	}{
		{"admin", "adminpw", true, []string{GroupAdmins}},
		{"ops", DefaultPassword, true, []string{GroupOps}},
		{"admin", "adminpw", true, []string{GroupAdmins}}, // again: from the digest of the verified password
		{"admin", DefaultPassword, false, nil},
		{"admin", "adminpw ", false, nil},
		{"admin", "", false, nil},
		{"nobody", "adminpw", false, nil},
		{"Admin", "adminpw", false, nil},
	} {
		p, err := u.Authenticate(tc.name, tc.password)
		if tc.ok != (err == nil) {
			t.Errorf("Authenticate(%q, %q) = %v, want ok=%v", tc.name, tc.password, err, tc.ok)
			continue
		}
		if !tc.ok {
			if !errors.Is(err, ErrUnauthenticated) {
				t.Errorf("Authenticate(%q): %v does not match ErrUnauthenticated", tc.name, err)
			}
			continue
		}
		if p.Name != tc.name || strings.Join(p.Groups, ",") != strings.Join(tc.groups, ",") {
			t.Errorf("Authenticate(%q) = %+v, want groups %v", tc.name, p, tc.groups)
		}
	}

	// A replaced user's old password, verified before, no longer works.
	if err := u.Add("admin", "newpw", GroupAdmins); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Authenticate("admin", "adminpw"); err == nil {
		t.Error("the old password still works after the user was replaced")
	}
	if _, err := u.Authenticate("admin", "newpw"); err != nil {
		t.Errorf("the new password: %v", err)
	}
	if err := u.Add("", "x"); err == nil {
		t.Error("a user without a name was added")
	}
	if err := u.Add("x", ""); err == nil {
		t.Error("a user without a password was added")
	}
}

// Passwords are kept only as salted hashes: two users with one password
// have different salts and hashes, neither holding the password.
func TestPasswordsAreHashedWithSalt(t *testing.T) {
	u := DefaultUsers(testIterations, "same", "same")
	a, o := u.users[UserAdmin], u.users[UserOps]
	if bytes.Equal(a.salt, o.salt) || bytes.Equal(a.hash, o.hash) {
		t.Fatal("two users with one password share a salt or a hash")
	}
	if len(a.salt) != saltSize || len(a.hash) != hashSize {
		t.Errorf("salt %d bytes, hash %d bytes", len(a.salt), len(a.hash))
	}
	for _, b := range [][]byte{a.salt, a.hash, o.salt, o.hash} {
		if bytes.Contains(b, []byte("same")) {
			t.Error("a stored value contains the password")
		}
	}
	if u.iterations != testIterations || NewUsers(0).iterations != DefaultIterations {
		t.Error("iteration counts not as asked")
	}
}

func TestParseBasic(t *testing.T) {
	if n, p, err := ParseBasic(basic("admin", "change:it")); err != nil || n != "admin" || p != "change:it" {
		t.Errorf("ParseBasic = %q %q %v", n, p, err)
	}
	if n, _, err := ParseBasic("basic " + base64.StdEncoding.EncodeToString([]byte("a:"))); err != nil || n != "a" {
		t.Errorf("lower-case scheme, empty password: %q %v", n, err)
	}
	for _, h := range []string{"", "Bearer abc", "Basic !!!", "Basic " + base64.StdEncoding.EncodeToString([]byte("nocolon")), "Basic " + base64.StdEncoding.EncodeToString([]byte(":pw"))} {
		if _, _, err := ParseBasic(h); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("ParseBasic(%q) = %v, want ErrUnauthenticated", h, err)
		}
	}
	if _, _, err := ParseBasic("Bearer abc"); !strings.Contains(err.Error(), `scheme "Bearer" is not supported`) {
		t.Errorf("Bearer: %v", err)
	}
}

func TestPolicyDefaultAccessLists(t *testing.T) {
	admin := &Principal{Name: "admin", Groups: []string{GroupAdmins}}
	ops := &Principal{Name: "ops", Groups: []string{GroupOps}}
	alice := &Principal{Name: "alice"}
	admins := &Principal{Name: "bob", Groups: []string{GroupAdmins}}
	type row struct {
		who    *Principal
		op     Operation
		stream string
		ok     bool
	}
	rows := []row{
		{admin, Read, "orders", true}, {admin, Write, "orders", true}, {admin, Delete, "orders", true},
		{admin, Read, "$all", true}, {admin, Write, "$all", false}, {admin, Delete, "$all", false},
		{admin, Read, "$settings", true}, {admin, Write, "$$orders", true}, {admin, Delete, "$$orders", false},
		{admins, Read, "$all", true},
		{ops, Read, "orders", true}, {ops, Write, "orders", true}, {ops, Delete, "orders", true},
		{ops, Read, "$all", false}, {ops, Write, "$settings", false}, {ops, Read, "$$$settings", false},
		{ops, Read, "$$orders", true},
		{alice, Write, "orders", true}, {alice, Read, "$all", false},
		{Anonymous, Read, "orders", false}, {Anonymous, Write, "orders", false}, {Anonymous, Read, "$all", false},
		{nil, Read, "orders", false},
	}
	for _, r := range rows {
		err := Policy{}.CheckStream(r.who, r.op, r.stream)
		if r.ok != (err == nil) {
			t.Errorf("%v %v %q: %v, want allowed=%v", r.who, r.op, r.stream, err, r.ok)
		}
		if err != nil && !errors.Is(err, ErrAccessDenied) {
			t.Errorf("%v %v %q: %v does not match ErrAccessDenied", r.who, r.op, r.stream, err)
		}
	}
	open := Policy{AllowAnonymousStreamAccess: true}
	if err := open.CheckStream(Anonymous, Write, "orders"); err != nil {
		t.Errorf("AllowAnonymousStreamAccess: anonymous write of a user stream: %v", err)
	}
	if err := open.CheckStream(Anonymous, Read, "$all"); err == nil {
		t.Error("AllowAnonymousStreamAccess opened $all to anonymous callers")
	}
	err := Policy{}.CheckStream(ops, Read, "$all")
	if want := "access denied: user ops may not read $all: reading the whole log $all needs the $admins group"; err == nil || err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
}

// health answers Check and Watch with SERVING for a user and NOT_SERVING
// for an anonymous caller, so that a test sees whom the handler saw.
type health struct {
	healthpb.UnimplementedHealthServer
}

func statusFor(ctx context.Context) healthpb.HealthCheckResponse_ServingStatus {
	if FromContext(ctx).Authenticated() {
		return healthpb.HealthCheckResponse_SERVING
	}
	return healthpb.HealthCheckResponse_NOT_SERVING
}

func (health) Check(ctx context.Context, _ *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	return &healthpb.HealthCheckResponse{Status: statusFor(ctx)}, nil
}

func (health) Watch(_ *healthpb.HealthCheckRequest, s grpc.ServerStreamingServer[healthpb.HealthCheckResponse]) error {
	return s.Send(&healthpb.HealthCheckResponse{Status: statusFor(s.Context())})
}

func TestGRPCInterceptors(t *testing.T) {
	a := &Authenticator{Users: DefaultUsers(testIterations, "adminpw", "opspw")}
	s := grpc.NewServer(grpc.ChainUnaryInterceptor(a.UnaryInterceptor()), grpc.ChainStreamInterceptor(a.StreamInterceptor()))
	healthpb.RegisterHealthServer(s, health{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = s.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(); s.Stop(); <-served }()
	c := healthpb.NewHealthClient(conn)

	for _, tc := range []struct {
		name   string
		header string
		code   codes.Code
		want   healthpb.HealthCheckResponse_ServingStatus
	}{
		{"admin", basic("admin", "adminpw"), codes.OK, healthpb.HealthCheckResponse_SERVING},
		{"no credentials", "", codes.OK, healthpb.HealthCheckResponse_NOT_SERVING},
		{"wrong password", basic("admin", "nope"), codes.Unauthenticated, 0},
		{"unknown user", basic("eve", "adminpw"), codes.Unauthenticated, 0},
		{"bearer", "Bearer token", codes.Unauthenticated, 0},
	} {
		ctx := t.Context()
		if tc.header != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", tc.header)
		}
		resp, err := c.Check(ctx, &healthpb.HealthCheckRequest{})
		if status.Code(err) != tc.code || (err == nil && resp.Status != tc.want) {
			t.Errorf("%s: unary: %v %v, want %v %v", tc.name, resp.GetStatus(), err, tc.code, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "adminpw") {
			t.Errorf("%s: the refusal repeats the password: %v", tc.name, err)
		}
		w, err := c.Watch(ctx, &healthpb.HealthCheckRequest{})
		if err == nil {
			var m *healthpb.HealthCheckResponse
			m, err = w.Recv()
			if err == nil && m.Status != tc.want {
				t.Errorf("%s: streaming: %v, want %v", tc.name, m.Status, tc.want)
			}
		}
		if status.Code(err) != tc.code {
			t.Errorf("%s: streaming: %v, want %v", tc.name, err, tc.code)
		}
	}
}

func TestHTTPMiddleware(t *testing.T) {
	a := &Authenticator{Users: DefaultUsers(testIterations, "adminpw", "opspw")}
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("hello " + FromContext(r.Context()).String()))
	})
	gossipOpen := EndpointPolicy{OverrideAnonymousEndpointAccessForGossip: true}
	for _, tc := range []struct {
		name   string
		pol    EndpointPolicy
		path   string
		header string
		code   int
		body   string
	}{
		{"liveness is open", gossipOpen, "/health/live", "", 200, "hello an anonymous caller"},
		{"info is open", gossipOpen, "/info", "", 200, "hello an anonymous caller"},
		{"gossip is open by default", gossipOpen, "/gossip", "", 200, "hello an anonymous caller"},
		{"gossip closed when asked", EndpointPolicy{}, "/gossip", "", 401, "/gossip needs a user's credentials"},
		{"stats need a user", gossipOpen, "/stats", "", 401, "needs a user's credentials"},
		{"stats with a user", gossipOpen, "/stats", basic("ops", "opspw"), 200, "hello user ops"},
		{"everything open when asked", EndpointPolicy{AllowAnonymousEndpointAccess: true}, "/stats", "", 200, "hello an anonymous caller"},
		{"wrong password even on an open route", gossipOpen, "/health/live", basic("admin", "x"), 401, `wrong user name or password for "admin"`},
		{"a preflight needs no user", gossipOpen, "OPTIONS /stats", "", 200, "hello an anonymous caller"},
		{"a preflight with a wrong password", gossipOpen, "OPTIONS /stats", basic("admin", "x"), 401, `wrong user name or password for "admin"`},
	} {
		method, path, ok := strings.Cut(tc.path, " ")
		if !ok {
			method, path = http.MethodGet, tc.path
		}
		r := httptest.NewRequest(method, path, nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		w := httptest.NewRecorder()
		a.HTTP(next, tc.pol).ServeHTTP(w, r)
		if w.Code != tc.code || !strings.Contains(w.Body.String(), tc.body) {
			t.Errorf("%s: %d %q, want %d containing %q", tc.name, w.Code, w.Body.String(), tc.code, tc.body)
		}
		if tc.code == 401 && w.Header().Get("WWW-Authenticate") != `Basic realm="ESDB", charset="UTF-8"` {
			t.Errorf("%s: WWW-Authenticate %q", tc.name, w.Header().Get("WWW-Authenticate"))
		}
	}
}

// Password derivations are bounded: with every slot taken, a check that
// needs one gives up with ErrTooBusy (UNAVAILABLE / 503 to the caller)
// instead of queueing CPU work without end; a cached good password still
// passes.
func TestPasswordChecksAreBounded(t *testing.T) {
	u := DefaultUsers(1000, "right", "ops-pw")
	if _, err := u.Authenticate(UserAdmin, "right"); err != nil {
		t.Fatalf("first login: %v", err)
	}
	for range cap(u.kdf) {
		u.kdf <- struct{}{}
	}
	defer func() {
		for range cap(u.kdf) {
			<-u.kdf
		}
	}()
	for _, c := range []struct{ name, pw string }{{UserAdmin, "wrong"}, {"nobody", "x"}, {UserOps, "ops-pw"}} {
		if _, err := u.Authenticate(c.name, c.pw); !errors.Is(err, ErrTooBusy) {
			t.Errorf("Authenticate(%s) with every slot taken = %v, want ErrTooBusy", c.name, err)
		}
	}
	if _, err := u.Authenticate(UserAdmin, "right"); err != nil {
		t.Errorf("a verified password needs no derivation, yet: %v", err)
	}
	a := &Authenticator{Users: u}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/stats", nil)
	req.SetBasicAuth(UserAdmin, "wrong")
	a.HTTP(http.NotFoundHandler(), EndpointPolicy{}).ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("HTTP answer with every slot taken: %d %v, want 503 with Retry-After", rec.Code, rec.Header())
	}
}
