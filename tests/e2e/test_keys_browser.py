"""The API keys page in real Chromium at 1x density (issue 16, defect 12): a new key's
underscores are drawn (checked on the screenshot's pixels), each key says who made it and
when it was last used, and revoked keys fold into their own section."""

from __future__ import annotations

import base64

import httpx
from playwright.sync_api import expect

from tests.helpers import set_up_admin

# The horizontal middle of the key's first underscore, in the input's own pixels: its
# glyph alone is drawn there (the neighbours' glyphs stay in their own monospace cells).
UNDERSCORE_STRIP = """field => {
  const style = getComputedStyle(field), text = field.value, at = text.indexOf("_");
  const measure = document.createElement("canvas").getContext("2d");
  measure.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
  const left = parseFloat(style.borderLeftWidth) + parseFloat(style.paddingLeft) + measure.measureText(text.slice(0, at)).width;
  const advance = measure.measureText("_").width;
  return [Math.round(left + advance / 4), Math.round(left + advance * 3 / 4)];
}"""

# How many pixels of a PNG's column strip [x0, x1) are dark (the text, not the background).
DARK_PIXELS = """async ([png, x0, x1]) => {
  const image = new Image();
  image.src = "data:image/png;base64," + png;
  await image.decode();
  const canvas = document.createElement("canvas");
  canvas.width = image.width; canvas.height = image.height;
  const context = canvas.getContext("2d");
  context.drawImage(image, 0, 0);
  const data = context.getImageData(x0, 0, x1 - x0, image.height).data;
  let dark = 0;
  for (let i = 0; i < data.length; i += 4) if (data[i] + data[i + 1] + data[i + 2] < 600) dark++;
  return dark;
}"""


def test_a_new_keys_underscores_show_and_keys_say_who_and_when(new_context, hookline):
    context = new_context(device_scale_factor=1)
    page = context.new_page()
    set_up_admin(page)
    page.goto("/api-keys")
    page.fill("#key-name", "checkout")
    page.get_by_role("button", name="Create API key").click()
    key = page.locator("#new-api-key")
    expect(key).to_be_visible()
    plaintext = key.input_value()
    assert plaintext.startswith("hl_")
    x0, x1 = key.evaluate(UNDERSCORE_STRIP)
    screenshot = base64.b64encode(key.screenshot()).decode()
    decoder = context.new_page()  # about:blank: no CSP in the way of a data: image
    assert decoder.evaluate(DARK_PIXELS, [screenshot, x0, x1]) >= 2, "the underscore of hl_ is drawn"
    decoder.close()

    assert httpx.get(f"{hookline}/api/v1/webhooks", headers={"Authorization": f"Bearer {plaintext}"}).status_code == 200
    page.reload()
    row = page.locator("#active-keys tr", has_text="checkout")
    expect(row.locator("td[data-label=Created]")).to_contain_text("by ada")
    expect(row.locator("td[data-label='Last used'] time")).to_contain_text("ago")

    row.get_by_role("button", name="Revoke").click()
    page.locator("#confirm-dialog").get_by_role("button", name="Revoke").click()  # the styled confirmation (defect 13)
    revoked = page.locator("details#revoked-keys")
    expect(revoked.locator("summary")).to_have_text("Revoked keys (1)")
    expect(page.locator("#active-keys")).not_to_contain_text("checkout")
    gone = revoked.locator("tr", has_text="checkout")
    expect(gone).to_be_hidden()  # folded away
    revoked.locator("summary").click()
    expect(gone).to_be_visible()
    expect(gone.locator(".pill")).to_have_text("revoked")
