// Package sdkcompare holds a benchmark that reads recorded provider streams
// with wire.StreamParser and with the official OpenAI and Anthropic SDKs'
// stream decoders, side by side in one process.
//
// It is a package of its own so that the wire package's test binary, which
// fuzzing instruments and rebuilds, does not link the SDKs.
package sdkcompare
