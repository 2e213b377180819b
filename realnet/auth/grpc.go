package auth

import (
	"context"
	"errors"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// authorizationKey is the gRPC metadata key of the credentials.
const authorizationKey = "authorization"

// UnaryInterceptor authenticates every unary call: wrong credentials end
// it with UNAUTHENTICATED; otherwise the handler finds the caller with
// FromContext (Anonymous when no credentials were sent; what an anonymous
// caller may do is the services' decision).
func (a *Authenticator) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := a.authenticate(ctx)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamInterceptor is UnaryInterceptor for streaming calls.
func (a *Authenticator) StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := a.authenticate(ss.Context())
		if err != nil {
			return err
		}
		return handler(srv, &authenticatedStream{ServerStream: ss, ctx: ctx})
	}
}

func (a *Authenticator) authenticate(ctx context.Context) (context.Context, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	p, err := a.FromHeader(md.Get(authorizationKey))
	switch {
	case errors.Is(err, ErrTooBusy):
		return ctx, status.Error(codes.Unavailable, err.Error())
	case err != nil:
		return ctx, status.Error(codes.Unauthenticated, err.Error())
	}
	return NewContext(ctx, p), nil
}

type authenticatedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *authenticatedStream) Context() context.Context { return s.ctx }
