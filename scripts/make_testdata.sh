#!/usr/bin/env bash
# Regenerates the short test videos of HW4 (video streaming) in
# testdata/video/:
#   video_2022.mp4  ~4 s, 320x180, 20 fps, H.264 + quiet 440 Hz AAC tone
#                   (ffmpeg's testsrc2 pattern: colour bars and a running clock)
#   video_2023.mp4  ~4 s, 320x180, 20 fps, H.264 + quiet 660 Hz AAC tone
#                   (a zooming Mandelbrot fractal, hue-shifted)
#   live.m2t        ~6 s MPEG-TS, 320x180, 20 fps, H.264 + quiet 550 Hz AAC
#                   tone, exactly one keyframe per second (the negated
#                   testsrc2 clock), for the live source and relay
#
# Why .m2t and not .ts: Deno claims *.ts (and *.mts) as TypeScript, so a
# binary live.ts would break `deno fmt --check` and `deno lint` for the whole
# project. .m2t is a standard extension for 188-byte-packet MPEG-TS.
#
# Everything comes from ffmpeg's built-in lavfi sources, so no input files,
# fonts or network are needed. The output is deterministic for a given ffmpeg
# build (bit-exact flags, one encoder thread, no metadata); a different
# ffmpeg or x264 version may produce different, equally valid bytes.
#
# The TLS test material is made by a separate script:
# scripts/make_test_certs.sh.
#
# Usage: scripts/make_testdata.sh [OUT_DIR]   (default: testdata/video)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-"$here/../testdata/video"}

command -v ffmpeg >/dev/null 2>&1 || {
  echo "make_testdata.sh: ffmpeg is required (apt-get install ffmpeg)" >&2
  exit 1
}
mkdir -p "$out"
out=$(cd "$out" && pwd)

# Frame rate and size shared by every clip. The live clip's GOP length is
# tied to the frame rate: one keyframe per second = one every $fps frames.
fps=20
size=320x180

# Flags common to every encode, one array so the clips cannot drift apart.
common=(
  # -hide_banner -loglevel error: print only problems; -y: overwrite.
  -hide_banner -loglevel error -y
  # -threads 1: a single encoder thread, so frame decisions never depend on
  # scheduling (x264 is deterministic with threads too, but this is cheap
  # insurance at 320x180).
  -threads 1
  # -c:v libx264: H.264 video, which every player and browser decodes.
  -c:v libx264
  # -preset medium: x264's default speed/size trade-off, spelled out so a
  # different default in a future build does not silently change the files.
  -preset medium
  # -crf 23: constant quality (x264's default); sizes follow the content.
  -crf 23
  # -pix_fmt yuv420p: 4:2:0 chroma, the only layout most hardware decoders
  # and browsers accept (lavfi sources are often RGB or 4:4:4).
  -pix_fmt yuv420p
  # -c:a aac -b:a 48k -ac 1: ffmpeg's native AAC encoder, mono, 48 kbit/s.
  -c:a aac -b:a 48k -ac 1
  # -flags:v/-flags:a +bitexact: encoders leave out version strings and
  # anything else that changes between runs.
  -flags:v +bitexact -flags:a +bitexact
  # -fflags +bitexact: the muxer does the same (no encoder tag, no creation
  # time); -map_metadata -1: copy no global metadata from the inputs.
  -fflags +bitexact -map_metadata -1
)

# lavfi inputs: -f lavfi makes a filter graph the input. The sine source is
# a pure tone; its volume is lowered by the -af filter below so the clips are
# quiet. Sources are deterministic; none of them uses a random seed.
tone() { # tone FREQ SECONDS
  echo "sine=frequency=$1:sample_rate=44100:duration=$2"
}

# -t SECONDS: stop after that much output (both streams).
# -af volume=0.1: about -20 dB, a quiet tone instead of a full-scale beep.
# -movflags +faststart: put the MP4 index (moov) before the media data so a
#  player can start while the file is still downloading.

echo "make_testdata.sh: writing $out/video_2022.mp4" >&2
ffmpeg -f lavfi -i "testsrc2=size=$size:rate=$fps" \
  -f lavfi -i "$(tone 440 4)" \
  -t 4 -af volume=0.1 "${common[@]}" \
  -movflags +faststart \
  "$out/video_2022.mp4"

echo "make_testdata.sh: writing $out/video_2023.mp4" >&2
# -vf hue=h=120:s=1.3: turn the fractal's palette by 120° and saturate it, so
# the two clips differ at a glance even in a thumbnail.
ffmpeg -f lavfi -i "mandelbrot=size=$size:rate=$fps" \
  -f lavfi -i "$(tone 660 4)" \
  -t 4 -vf hue=h=120:s=1.3 -af volume=0.1 "${common[@]}" \
  -movflags +faststart \
  "$out/video_2023.mp4"

echo "make_testdata.sh: writing $out/live.m2t" >&2
# -vf negate: invert the testsrc2 colours, so the live source is not mistaken
#  for video_2022; its clock is still readable, which shows where a loop is.
# -g $fps: at most $fps frames between keyframes (one GOP per second).
# -keyint_min $fps: no keyframes closer together than that either.
# -sc_threshold 0: no extra keyframes on scene cuts.
# -force_key_frames expr:gte(t,n_forced*1): force a keyframe at t = 0, 1, 2 s
#  ... (n_forced counts keyframes forced so far), exactly on each second.
# -f mpegts: the MPEG transport stream muxer (188-byte packets); named
#  explicitly rather than guessed from the file name.
# -mpegts_flags +resend_headers: write PAT and PMT again before the next
#  packet. ffmpeg (>= 4.3) also repeats them before every video keyframe and
#  every -pat_period (0.1 s by default), which is what lets a late joiner
#  start at a keyframe and find the tables right before it.
ffmpeg -f lavfi -i "testsrc2=size=$size:rate=$fps" \
  -f lavfi -i "$(tone 550 6)" \
  -t 6 -vf negate -af volume=0.1 "${common[@]}" \
  -g "$fps" -keyint_min "$fps" -sc_threshold 0 \
  -force_key_frames "expr:gte(t,n_forced*1)" \
  -f mpegts -mpegts_flags +resend_headers \
  "$out/live.m2t"

for f in video_2022.mp4 video_2023.mp4 live.m2t; do
  bytes=$(wc -c <"$out/$f")
  echo "make_testdata.sh: $f $bytes bytes" >&2
done
if command -v sha256sum >/dev/null 2>&1; then
  (cd "$out" && sha256sum video_2022.mp4 video_2023.mp4 live.m2t) >&2
fi
echo "make_testdata.sh: done (TLS test certificates: scripts/make_test_certs.sh)" >&2
