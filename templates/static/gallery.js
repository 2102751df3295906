/* dreamgallery: a small image viewer, a before/after slider and click-to-play animations.
   Plain script (no modules, no fetch) so it works from file://. The pages are whole
   without it: every picture is a link to its full-size PNG. */
(function () {
  "use strict";

  function viewer() {
    var links = Array.prototype.slice.call(document.querySelectorAll("a[data-lightbox]"));
    if (!links.length) return;
    var box, img, caption, count, buttons, current = -1, opener = null, hiddenSiblings = [];

    function make(tag, cls, text) {
      var el = document.createElement(tag);
      if (cls) el.className = cls;
      if (text) el.textContent = text;
      return el;
    }

    function build() {
      box = make("div", "lb");
      box.setAttribute("role", "dialog");
      box.setAttribute("aria-modal", "true");
      box.setAttribute("aria-label", "Image viewer");
      box.hidden = true;
      var fig = make("figure", "lb-figure");
      fig.style.margin = "0";
      img = make("img", "lb-img");
      caption = make("figcaption", "lb-caption");
      caption.id = "lb-caption";
      box.setAttribute("aria-describedby", "lb-caption");
      fig.appendChild(img);
      fig.appendChild(caption);
      count = make("p", "lb-count");
      count.setAttribute("aria-live", "polite");
      var prev = make("button", "lb-prev", "\u2039");
      var next = make("button", "lb-next", "\u203A");
      var close = make("button", "lb-close", "\u00D7");
      prev.type = next.type = close.type = "button";
      prev.setAttribute("aria-label", "Previous image");
      next.setAttribute("aria-label", "Next image");
      close.setAttribute("aria-label", "Close the viewer");
      prev.addEventListener("click", function () { show(current - 1); });
      next.addEventListener("click", function () { show(current + 1); });
      close.addEventListener("click", hide);
      box.addEventListener("click", function (e) { if (e.target === box) hide(); });
      box.appendChild(fig);
      box.appendChild(count);
      box.appendChild(prev);
      box.appendChild(next);
      box.appendChild(close);
      buttons = [close, prev, next];
      document.body.appendChild(box);
      box.addEventListener("keydown", onKey);
    }

    function show(i) {
      var n = links.length;
      current = ((i % n) + n) % n;
      var link = links[current];
      var thumb = link.querySelector("img");
      var set = (thumb && thumb.getAttribute("srcset")) || "";
      // The thumbnail's copies, up to the full size: the browser picks the one the screen needs.
      if (set) { img.srcset = set; img.sizes = "100vw"; } else { img.removeAttribute("srcset"); }
      img.src = set ? set.split(",").pop().trim().split(" ")[0] : link.getAttribute("href");
      img.alt = thumb ? thumb.alt : "";
      var fig = link.parentNode.classList.contains("fig") ? link.parentNode : null;
      var title = fig && fig.querySelector(".fig-title");
      var words = fig && fig.querySelector(".fig-caption");
      caption.textContent = title ? title.textContent + (words ? " \u2014 " + words.textContent : "") : img.alt;
      count.textContent = (current + 1) + " / " + n;
    }

    function open(i, from) {
      if (!box) build();
      opener = from;
      hiddenSiblings = [];
      Array.prototype.forEach.call(document.body.children, function (el) {
        if (el !== box && !el.inert) { el.inert = true; el.setAttribute("aria-hidden", "true"); hiddenSiblings.push(el); }
      });
      document.body.classList.add("lb-open");
      box.hidden = false;
      show(i);
      buttons[0].focus();
    }

    function hide() {
      if (!box || box.hidden) return;
      box.hidden = true;
      document.body.classList.remove("lb-open");
      hiddenSiblings.forEach(function (el) { el.inert = false; el.removeAttribute("aria-hidden"); });
      if (opener) opener.focus();
    }

    function onKey(e) {
      if (e.key === "Escape") { e.preventDefault(); hide(); }
      else if (e.key === "ArrowRight") { e.preventDefault(); show(current + 1); }
      else if (e.key === "ArrowLeft") { e.preventDefault(); show(current - 1); }
      else if (e.key === "Tab") {
        var i = buttons.indexOf(document.activeElement);
        var j = e.shiftKey ? i - 1 : i + 1;
        e.preventDefault();
        buttons[(j + buttons.length) % buttons.length].focus();
      }
    }

    links.forEach(function (link, i) {
      link.addEventListener("click", function (e) {
        if (e.ctrlKey || e.metaKey || e.shiftKey || e.button > 0) return;
        e.preventDefault();
        open(i, link);
      });
    });
  }

  function sliders() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-compare]"), function (boxEl) {
      var imgs = boxEl.querySelectorAll("figure img");
      if (imgs.length < 2) return;
      var slider = document.createElement("div");
      slider.className = "slider";
      var natural = parseInt(imgs[0].getAttribute("width"), 10);
      if (natural) slider.style.maxWidth = Math.max(natural, 480) + "px";
      var before = imgs[0].cloneNode(true);
      var afterWrap = document.createElement("div");
      afterWrap.className = "slider-after";
      var after = imgs[1].cloneNode(true);
      before.loading = after.loading = "eager";
      after.alt = "";
      afterWrap.appendChild(after);
      var range = document.createElement("input");
      range.type = "range";
      range.min = "0";
      range.max = "100";
      range.value = "50";
      range.setAttribute("aria-label", "Compare: the photograph left of the line, the dream right of it");
      var handle = document.createElement("span");
      handle.className = "slider-handle";
      slider.appendChild(before);
      slider.appendChild(afterWrap);
      slider.appendChild(range);
      slider.appendChild(handle);
      var labels = document.createElement("p");
      labels.className = "slider-labels";
      labels.style.maxWidth = slider.style.maxWidth;
      labels.innerHTML = "<span>\u2190 before</span><span>after \u2192</span>";
      function update() { slider.style.setProperty("--cut", range.value + "%"); }
      range.addEventListener("input", update);
      update();
      Array.prototype.forEach.call(boxEl.children, function (child) { child.hidden = true; });
      boxEl.classList.add("is-slider");
      boxEl.appendChild(slider);
      boxEl.appendChild(labels);
    });
  }

  // An animation is fetched only when the visitor presses play; pressing again shows the still.
  function animations() {
    Array.prototype.forEach.call(document.querySelectorAll("a[data-animation]"), function (link) {
      var img = link.querySelector("img");
      var label = link.querySelector(".play-text");
      if (!img) return;
      var still = { src: img.getAttribute("src"), srcset: img.getAttribute("srcset") };
      var playText = label ? label.textContent : "";
      link.setAttribute("role", "button");
      link.setAttribute("aria-pressed", "false");
      link.addEventListener("click", function (e) {
        if (e.ctrlKey || e.metaKey || e.shiftKey || e.button > 0) return;
        e.preventDefault();
        var playing = link.classList.toggle("is-playing");
        link.setAttribute("aria-pressed", playing ? "true" : "false");
        if (playing) {
          img.removeAttribute("srcset");
          img.src = link.getAttribute("data-animation");
        } else {
          if (still.srcset) img.srcset = still.srcset;
          img.src = still.src;
        }
        if (label) label.textContent = playing ? "Show the still" : playText;
      });
    });
  }

  function start() { sliders(); viewer(); animations(); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
