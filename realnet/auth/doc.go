// Package auth is a secure node's authentication and authorization:
// users and their salted password hashes (in memory; the default admin
// and ops users), HTTP Basic credentials from gRPC's authorization
// metadata and HTTP's Authorization header, and EventStoreDB's default
// rules for who may do what.
//
// Authentication happens once per request, before any service sees it:
// wrong credentials end a gRPC call with UNAUTHENTICATED and an HTTP
// request with 401 and a Basic challenge; no credentials make an anonymous
// caller. Authorization is asked by the services that know what a request
// touches (Policy.CheckStream for stream operations, EndpointPolicy for
// HTTP routes); a refusal wraps ErrAccessDenied, which the client API
// answers as PERMISSION_DENIED with exception=access-denied.
//
// An insecure node uses none of this: every request is allowed, and
// credentials are ignored.
package auth
