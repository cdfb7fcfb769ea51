import assert from "node:assert/strict";
import { contentType } from "./mime.ts";

Deno.test({
  name: "contentType() maps every listed extension",
  permissions: "none",
  fn() {
    const cases: Record<string, string> = {
      html: "text/html; charset=utf-8",
      htm: "text/html; charset=utf-8",
      css: "text/css; charset=utf-8",
      js: "text/javascript; charset=utf-8",
      mjs: "text/javascript; charset=utf-8",
      json: "application/json",
      txt: "text/plain; charset=utf-8",
      md: "text/markdown; charset=utf-8",
      csv: "text/csv; charset=utf-8",
      xml: "application/xml",
      svg: "image/svg+xml",
      png: "image/png",
      jpg: "image/jpeg",
      jpeg: "image/jpeg",
      gif: "image/gif",
      webp: "image/webp",
      ico: "image/x-icon",
      avif: "image/avif",
      mp4: "video/mp4",
      webm: "video/webm",
      m4v: "video/x-m4v",
      mov: "video/quicktime",
      ts: "video/mp2t",
      m3u8: "application/vnd.apple.mpegurl",
      mpd: "application/dash+xml",
      mp3: "audio/mpeg",
      wav: "audio/wav",
      ogg: "audio/ogg",
      pdf: "application/pdf",
      wasm: "application/wasm",
      woff: "font/woff",
      woff2: "font/woff2",
      zip: "application/zip",
      gz: "application/gzip",
      tar: "application/x-tar",
    };
    for (const [ext, type] of Object.entries(cases)) {
      assert.equal(contentType(`file.${ext}`), type, ext);
    }
  },
});

Deno.test({
  name: "contentType() ignores the case of the extension",
  permissions: "none",
  fn() {
    assert.equal(contentType("INDEX.HTML"), "text/html; charset=utf-8");
    assert.equal(contentType("photo.JpG"), "image/jpeg");
  },
});

Deno.test({
  name: "contentType() uses the last extension of the last path segment",
  permissions: "none",
  fn() {
    assert.equal(contentType("/videos/seg-001.ts"), "video/mp2t");
    assert.equal(contentType("archive.tar.gz"), "application/gzip");
    assert.equal(contentType("a.d/b.html"), "text/html; charset=utf-8");
    assert.equal(contentType("C:\\www\\a.css"), "text/css; charset=utf-8");
    assert.equal(contentType("dir.html/README"), "application/octet-stream");
  },
});

Deno.test({
  name: "contentType() falls back to application/octet-stream",
  permissions: "none",
  fn() {
    for (
      const name of [
        "README",
        "file.",
        "file.exe",
        ".html",
        "/a/.env",
        "",
        "a.b c",
      ]
    ) {
      assert.equal(contentType(name), "application/octet-stream", name);
    }
  },
});
