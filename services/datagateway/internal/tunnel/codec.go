package tunnel

import (
	"fmt"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// CodecName is the content-subtype of the tunnel's calls. Its codec is gRPC's protobuf
// codec (the same bytes on the wire) with a buffer pool fit for row batches: gRPC's default
// pool has no size between 32 KiB and 1 MiB and clears a buffer's whole capacity on every
// reuse, so each batch (typically 50–500 KiB) would cost clearing 1 MiB when the agent
// marshals it and again when the hub reads it; power-of-two sizes up to 8 MiB keep that
// within twice the message. The agent asks for it with grpc.CallContentSubtype; gRPC
// finds it by name on both ends, and other calls keep the default codec.
const CodecName = "oriel-tunnel"

func init() { encoding.RegisterCodecV2(codec{}) }

type codec struct{}

var buffers = func() mem.BufferPool {
	p, err := mem.NewBinaryTieredBufferPool(8, 12, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23)
	if err != nil {
		panic(err) // fixed, valid exponents
	}
	return p
}()

func (codec) Name() string { return CodecName }

func (codec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("tunnel codec: cannot marshal %T", v)
	}
	// UseCachedSize below relies on this Size, of a message nobody mutates meanwhile.
	size := proto.Size(m)
	opts := proto.MarshalOptions{UseCachedSize: true}
	if mem.IsBelowBufferPoolingThreshold(size) {
		b, err := opts.Marshal(m)
		if err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	buf := buffers.Get(size)
	if _, err := opts.MarshalAppend((*buf)[:0], m); err != nil {
		buffers.Put(buf)
		return nil, err
	}
	return mem.BufferSlice{mem.NewBuffer(buf, buffers)}, nil
}

func (codec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("tunnel codec: cannot unmarshal into %T", v)
	}
	buf := data.MaterializeToBuffer(buffers)
	defer buf.Free()
	return proto.Unmarshal(buf.ReadOnlyData(), m)
}
