// Package rosbag reads and writes ROS bag files, format version 2.0
// (http://wiki.ros.org/Bags/Format/2.0), the files `rosbag record` writes and `rosbag play` replays.
//
// # Format
//
// A bag starts with the line "#ROSBAG V2.0\n" and continues with records. Every record is
//
//	header_len uint32 | header | data_len uint32 | data
//
// with little-endian lengths. A header is a run of fields "field_len uint32 | name=value"; the one-byte
// field "op" says what the record is:
//
//	0x03 bag header   index_pos (uint64), conn_count, chunk_count; padded with spaces to 4096 bytes so
//	                  that it can be rewritten in place when the bag is closed
//	0x05 chunk        compression ("none", "lz4" or "bz2") and size (uncompressed, uint32); the data is
//	                  the compressed run of connection and message data records
//	0x07 connection   conn (uint32 id) and topic; the data is a header-format block: topic, type, md5sum,
//	                  message_definition, callerid, latching
//	0x02 message data conn and time (uint32 sec, uint32 nsec); the data is the serialized message
//	0x04 index data   after each chunk, one per connection in it: ver=1, conn, count; the data is count
//	                  pairs (time, offset of the message record in the uncompressed chunk)
//	0x06 chunk info   in the index section: ver=1, chunk_pos, start_time, end_time, count; the data is
//	                  count pairs (conn, message count)
//
// The index section (every connection record again, then one chunk info per chunk) starts at index_pos,
// after the last chunk. A bag whose recorder was killed (a ".bag.active" file) has index_pos 0 and, often,
// a last chunk whose header still says size 0.
//
// # Reading
//
// [Open] reads the index of an indexed bag; an unindexed bag (index_pos 0, or an index that is cut short
// or damaged) is indexed by a linear scan of its records, using the index data records that follow each
// complete chunk and decompressing only the chunks they do not describe. [Reader.Messages] then streams
// messages in file order, reading and decompressing the next two chunks in goroutines while the caller
// works on the current one, into reused buffers, so memory does not grow with the bag. Chunks that hold
// none of the wanted connections are skipped without being decompressed.
// Open maps the file, so uncompressed message data is handed out without a copy; [NewReader] reads any
// io.ReaderAt instead. Chunks may be uncompressed, lz4 (the LZ4 frame format, as roslz4 writes it) or bz2.
//
// Damage is reported as one [*Error] naming the file, the byte offset of the bad record and what is
// wrong; truncation wraps [io.ErrUnexpectedEOF]. The messages before the damage are delivered first:
// those of the chunks before it and, when the file is cut inside a chunk or its recorder never closed
// it, the whole records in that chunk. A chunk whose compressed data does not decode yields none.
//
// # Writing
//
// [Create] writes a bag that ROS's own tools accept: chunks (none or lz4) closed at [WriterConf.ChunkSize],
// connection records in the first chunk that uses them and again in the index, index data after each
// chunk, chunk infos, and the bag header rewritten at [Writer.Close]. The bag is written to a temporary
// file beside the target and renamed into place by Close, so an interrupted run never leaves a partial
// bag under the final name.
//
// [ImageType] and the other [MsgType] values carry the message definitions exactly as ROS's genpy has
// them, so that `rosbag check` finds nothing to migrate. [DecodeImage], [AppendImage] and their siblings
// (de)serialize the image-like messages without reflection.
package rosbag
