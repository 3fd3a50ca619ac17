// The bundle's entry: defines <oriel-embed>, and on the frame page (a body marked
// data-oriel-frame) boots the frame mode, since the page's CSP allows no inline script.
import { OrielEmbed } from "./element";
import { bootFrame } from "./frame";

if (!customElements.get("oriel-embed")) customElements.define("oriel-embed", OrielEmbed);

function isFramePage(): boolean {
  return !!document.body && document.body.hasAttribute("data-oriel-frame");
}

if (isFramePage()) {
  bootFrame();
} else if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", () => {
    if (isFramePage()) bootFrame();
  }, { once: true });
}

declare global {
  interface HTMLElementTagNameMap {
    "oriel-embed": OrielEmbed;
  }
}
