// Written by web/build.sh: every file of web-dist the binary serves, as
// (path under web-dist, bytes, may be cached for good: its name carries a hash or a version).
#[rustfmt::skip]
pub const FILES: &[(&str, &[u8], bool)] = &[
    ("THIRD-PARTY.txt", include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web-dist/THIRD-PARTY.txt")), false),
    ("assets/app-NG7HZX2N.css", include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web-dist/assets/app-NG7HZX2N.css")), true),
    ("assets/main-BWXUTE2L.js", include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web-dist/assets/main-BWXUTE2L.js")), true),
    ("assets/vendor/bpmn-js-18.31.1/LICENSE", include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web-dist/assets/vendor/bpmn-js-18.31.1/LICENSE")), false),
    ("assets/vendor/bpmn-js-18.31.1/bpmn-font/css/bpmn.css", include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web-dist/assets/vendor/bpmn-js-18.31.1/bpmn-font/css/bpmn.css")), true),
    ("assets/vendor/bpmn-js-18.31.1/bpmn-font/font/bpmn.eot", include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web-dist/assets/vendor/bpmn-js-18.31.1/bpmn-font/font/bpmn.eot")), true),
    ("assets/vendor/bpmn-js-18.31.1/bpmn-font/font/bpmn.svg", include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web-dist/assets/vendor/bpmn-js-18.31.1/bpmn-font/font/bpmn.svg")), true),
    ("assets/vendor/bpmn-js-18.31.1/bpmn-font/font/bpmn.ttf", include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web-dist/assets/vendor/bpmn-js-18.31.1/bpmn-font/font/bpmn.ttf")), true),
    ("assets/vendor/bpmn-js-18.31.1/bpmn-font/font/bpmn.woff", include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web-dist/assets/vendor/bpmn-js-18.31.1/bpmn-font/font/bpmn.woff")), true),
    ("assets/vendor/bpmn-js-18.31.1/bpmn-font/font/bpmn.woff2", include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web-dist/assets/vendor/bpmn-js-18.31.1/bpmn-font/font/bpmn.woff2")), true),
    ("assets/vendor/bpmn-js-18.31.1/bpmn-js.css", include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web-dist/assets/vendor/bpmn-js-18.31.1/bpmn-js.css")), true),
    ("assets/vendor/bpmn-js-18.31.1/bpmn-modeler.production.min.js", include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web-dist/assets/vendor/bpmn-js-18.31.1/bpmn-modeler.production.min.js")), true),
    ("assets/vendor/bpmn-js-18.31.1/bpmn-navigated-viewer.production.min.js", include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web-dist/assets/vendor/bpmn-js-18.31.1/bpmn-navigated-viewer.production.min.js")), true),
    ("assets/vendor/bpmn-js-18.31.1/diagram-js.css", include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web-dist/assets/vendor/bpmn-js-18.31.1/diagram-js.css")), true),
    ("index.html", include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web-dist/index.html")), false),
    ("licenses/bpmn-auto-layout-1.3.0-LICENSE.txt", include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web-dist/licenses/bpmn-auto-layout-1.3.0-LICENSE.txt")), false),
    ("licenses/bpmn-moddle-10.3.1-LICENSE.txt", include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web-dist/licenses/bpmn-moddle-10.3.1-LICENSE.txt")), false),
    ("licenses/min-dash-5.1.0-LICENSE.txt", include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web-dist/licenses/min-dash-5.1.0-LICENSE.txt")), false),
    ("licenses/moddle-8.2.1-LICENSE.txt", include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web-dist/licenses/moddle-8.2.1-LICENSE.txt")), false),
    ("licenses/moddle-xml-12.3.2-LICENSE.txt", include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web-dist/licenses/moddle-xml-12.3.2-LICENSE.txt")), false),
    ("licenses/saxen-11.2.0-LICENSE.txt", include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web-dist/licenses/saxen-11.2.0-LICENSE.txt")), false),
];
