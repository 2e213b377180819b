package auth

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"
)

// Groups and users EventStoreDB creates on a fresh database.
const (
	GroupAdmins = "$admins"
	GroupOps    = "$ops"
	UserAdmin   = "admin"
	UserOps     = "ops"
	// DefaultPassword is what both default users start with; a node warns
	// while either still has it.
	DefaultPassword = "changeit"
)

// Password hashing: PBKDF2-HMAC-SHA256 with a 16-byte random salt per
// user. DefaultIterations costs about 40 ms per check on a current core;
// Users keeps the last verified password of each user as a keyed digest,
// so only a user's first login and wrong passwords pay it.
const (
	DefaultIterations = 100_000
	saltSize          = 16
	hashSize          = 32
)

// ErrUnauthenticated: the credentials given are not a user's (unknown
// user, wrong password, unreadable header).
var ErrUnauthenticated = errors.New("invalid credentials")

// Users is a small set of users in memory, each with a salted password
// hash. It is safe for concurrent use.
type Users struct {
	iterations int
	// cacheKey keys the digests of verified passwords; it never leaves
	// the process.
	cacheKey []byte
	// dummy is checked against for unknown users, so that an unknown
	// name costs what a wrong password costs.
	dummy *user

	// kdf holds one token per password derivation allowed at once: a
	// derivation costs tens of milliseconds of CPU, and callers with
	// wrong passwords must not be able to take every core from the node.
	kdf chan struct{}

	mu    sync.Mutex
	users map[string]*user
}

// ErrTooBusy: every password-derivation slot stayed taken for KDFWait;
// the caller should retry shortly. It is not a verdict on the password.
var ErrTooBusy = errors.New("too many logins being checked at once; retry shortly")

// KDFWait is how long a password check waits for a derivation slot.
const KDFWait = 250 * time.Millisecond

type user struct {
	principal Principal
	salt      []byte
	hash      []byte
	// verified is the keyed digest of the password last checked good;
	// nil until one is.
	verified []byte
}

// NewUsers makes an empty set whose passwords are hashed with the given
// PBKDF2 iteration count (0: DefaultIterations).
func NewUsers(iterations int) *Users {
	if iterations <= 0 {
		iterations = DefaultIterations
	}
	u := &Users{iterations: iterations, cacheKey: randomBytes(32), users: map[string]*user{},
		kdf: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))}
	u.dummy = u.newUser(Principal{}, string(randomBytes(12)))
	return u
}

// DefaultUsers is EventStoreDB's initial set: admin in $admins and ops in
// $ops, with the given passwords.
func DefaultUsers(iterations int, adminPassword, opsPassword string) *Users {
	u := NewUsers(iterations)
	// The names and groups are fixed and valid: Add cannot fail.
	_ = u.Add(UserAdmin, adminPassword, GroupAdmins)
	_ = u.Add(UserOps, opsPassword, GroupOps)
	return u
}

// Add adds a user, or replaces one of the same name.
func (u *Users) Add(name, password string, groups ...string) error {
	if name == "" {
		return errors.New("auth: a user needs a name")
	}
	if password == "" {
		return fmt.Errorf("auth: user %q needs a password", name)
	}
	nu := u.newUser(Principal{Name: name, Groups: slices.Clone(groups)}, password)
	u.mu.Lock()
	u.users[name] = nu
	u.mu.Unlock()
	return nil
}

func (u *Users) newUser(p Principal, password string) *user {
	salt := randomBytes(saltSize)
	return &user{principal: p, salt: salt, hash: u.derive(password, salt)}
}

func (u *Users) derive(password string, salt []byte) []byte {
	h, err := pbkdf2.Key(sha256.New, password, salt, u.iterations, hashSize)
	if err != nil {
		// Only FIPS-140-only mode refuses these parameters.
		panic("auth: PBKDF2: " + err.Error())
	}
	return h
}

// deriveLimited is derive within the node's derivation slots, or
// ErrTooBusy after KDFWait.
func (u *Users) deriveLimited(password string, salt []byte) ([]byte, error) {
	wait := time.NewTimer(KDFWait)
	defer wait.Stop()
	select {
	case u.kdf <- struct{}{}:
	case <-wait.C:
		return nil, ErrTooBusy
	}
	defer func() { <-u.kdf }()
	return u.derive(password, salt), nil
}

func (u *Users) digest(password string, salt []byte) []byte {
	m := hmac.New(sha256.New, u.cacheKey)
	m.Write(salt)
	m.Write([]byte(password))
	return m.Sum(nil)
}

// Authenticate checks a user's password, in time that does not depend on
// how much of it is right, and returns who the user is.
func (u *Users) Authenticate(name, password string) (*Principal, error) {
	u.mu.Lock()
	usr, known := u.users[name]
	var verified []byte
	if known {
		verified = usr.verified
	}
	u.mu.Unlock()
	if !known {
		h, err := u.deriveLimited(password, u.dummy.salt)
		if err != nil {
			return nil, err
		}
		subtle.ConstantTimeCompare(h, u.dummy.hash)
		return nil, ErrUnauthenticated
	}
	d := u.digest(password, usr.salt)
	if verified != nil && hmac.Equal(d, verified) {
		p := usr.principal
		return &p, nil
	}
	h, err := u.deriveLimited(password, usr.salt)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(h, usr.hash) != 1 {
		return nil, ErrUnauthenticated
	}
	u.mu.Lock()
	if u.users[name] == usr {
		usr.verified = d
	}
	u.mu.Unlock()
	p := usr.principal
	return &p, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails: crypto/rand crashes the program instead
	return b
}
