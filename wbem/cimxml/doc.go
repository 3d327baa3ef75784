// Package cimxml is the CIM-XML codec of mgmtd's WBEM server: it decodes
// CIM operation requests (DMTF DSP0201 representation, DSP0203 DTD, carried
// by DSP0200 "CIM Operations over HTTP") and encodes the responses and
// ExportIndication requests.
//
// It is a leaf package: it imports nothing of mgmtd and knows nothing about
// HTTP, providers or the cluster model; package wbem builds the server on it.
//
// Decoding never unmarshals into recursive structs. [DecodeRequest] walks the
// token stream of an encoding/xml Decoder with its own limits on body size,
// element depth, element count, attributes per element and string length
// ([Limits]); recursion in the parser is bounded by the depth limit.
// Documents with a DOCTYPE are rejected, so no entity is ever declared or
// expanded; only the five predefined entities and character references are
// understood. Errors are [*SyntaxError] values carrying the line and column
// and a [Kind] that maps to the DSP0200 CIMError header.
//
// The [Encoder] writes what real clients read, which is stricter than the
// DTD: sblim-wbemcli's hand-written parser rejects self-closing PROPERTY,
// PROPERTY.ARRAY, PROPERTY.REFERENCE, VALUE, PARAMETER, METHOD and QUALIFIER
// elements and prints numeric character references literally. The encoder
// therefore always writes explicit end tags for those elements and escapes
// only with the five named entities (&amp; &lt; &gt; &quot; &apos;),
// writing all other characters as raw UTF-8. KEYVALUE carries both
// VALUETYPE and TYPE (DSP0203 2.4).
package cimxml
