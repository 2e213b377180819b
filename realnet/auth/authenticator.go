package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Authenticator turns a request's credentials into a Principal.
type Authenticator struct {
	Users *Users
}

// FromHeader authenticates the values of an Authorization header (gRPC's
// authorization metadata): none is Anonymous; "Basic base64(user:pass)" is
// checked against the users; anything else is an error wrapping
// ErrUnauthenticated that says what was wrong (never the password), or
// ErrTooBusy when the password could not be checked in time.
func (a *Authenticator) FromHeader(values []string) (*Principal, error) {
	switch len(values) {
	case 0:
		return Anonymous, nil
	case 1:
	default:
		return nil, fmt.Errorf("%w: %d authorization headers; send one", ErrUnauthenticated, len(values))
	}
	name, password, err := ParseBasic(values[0])
	if err != nil {
		return nil, err
	}
	p, err := a.Users.Authenticate(name, password)
	switch {
	case errors.Is(err, ErrTooBusy):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("%w: wrong user name or password for %q", ErrUnauthenticated, name)
	}
	return p, nil
}

// ParseBasic reads "Basic base64(user:password)". Errors wrap
// ErrUnauthenticated.
func ParseBasic(header string) (name, password string, err error) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(header), " ")
	if !strings.EqualFold(scheme, "Basic") {
		if scheme == "" {
			return "", "", fmt.Errorf("%w: the authorization header is empty; send Basic credentials", ErrUnauthenticated)
		}
		return "", "", fmt.Errorf("%w: authorization scheme %q is not supported; send Basic credentials (user:password)", ErrUnauthenticated, scheme)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
	if err != nil {
		return "", "", fmt.Errorf("%w: the Basic credentials are not valid base64", ErrUnauthenticated)
	}
	name, password, ok := strings.Cut(string(raw), ":")
	if !ok || name == "" {
		return "", "", fmt.Errorf("%w: the Basic credentials are not user:password", ErrUnauthenticated)
	}
	return name, password, nil
}

type principalKey struct{}

// NewContext carries who makes the request.
func NewContext(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext is who makes the request; Anonymous when nobody said.
func FromContext(ctx context.Context) *Principal {
	if p, ok := ctx.Value(principalKey{}).(*Principal); ok && p != nil {
		return p
	}
	return Anonymous
}
