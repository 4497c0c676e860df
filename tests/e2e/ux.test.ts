/**
 * Issue 14's small UI bugs in the built app (the pure logic behind each is unit tested in
 * tests/unit/ui-ux.test.ts): keyboard reach, tab keys and which controls take the arrows (bug 10,
 * lib/keys.ts), the OS colour scheme, LM links
 * without `src`, chart ticks and labels, repeated notices and the backend badge's wording (bug 12).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openApp, type App } from '../../scripts/lib/harness';

let app: App;

beforeAll(async () => {
  // No ?backend=: the app picks its backend itself, as a visitor's does.
  app = await openApp({ query: '' });
  await app.page.waitForFunction(() => window.__attentionLab?.store?.getState().run?.done, null, {
    timeout: 120_000,
  });
});

afterAll(async () => {
  await app?.close();
});

const state = <T>(pick: string) =>
  app.page.evaluate((p) => {
    const s = window.__attentionLab!.store!.getState() as unknown as Record<string, unknown>;
    return s[p];
  }, pick) as Promise<T>;

it('reaches "open files…" with Tab', async () => {
  await app.page.getByTestId('model-address-load').focus();
  await app.page.keyboard.press('Tab');
  expect(await app.page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe(
    'model-files',
  );
});

it('switches tabs with the arrow keys on a focused tab and leaves the query alone', async () => {
  const query = await state<number>('query');
  await app.page.getByTestId('tab-step').click();
  await app.page.keyboard.press('ArrowRight');
  expect(await state<string>('tab')).toBe('heads');
  expect(await app.page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe(
    'tab-heads',
  );
  expect(await app.page.getByTestId('tab-heads').getAttribute('tabindex')).toBe('0');
  expect(await app.page.getByTestId('tab-step').getAttribute('tabindex')).toBe('-1');
  await app.page.keyboard.press('ArrowLeft');
  expect(await state<string>('tab')).toBe('step');
  expect(await state<number>('query')).toBe(query);
});

it('leaves the arrows to the step-through on a focused button; a radio group moves its choice with them', async () => {
  await app.page.getByTestId('tab-step').click();
  const through = app.page.getByTestId('step-through');
  await through.waitFor({ timeout: 60_000 });
  const stage = async () => Number(await through.getAttribute('data-stage'));
  const focused = () =>
    app.page.evaluate(() => document.activeElement?.getAttribute('data-testid'));
  await app.page.getByTestId('step-next').click();
  const afterClick = await stage();
  await app.page.keyboard.press('ArrowRight');
  expect(await stage()).toBe(afterClick + 1);
  expect(await focused()).toBe('step-next');
  // A toggle button (a head's ablation) does not take the arrows either, nor toggles on them.
  await app.page.getByTestId('ablate-toggle').first().focus();
  await app.page.keyboard.press('ArrowLeft');
  expect(await stage()).toBe(afterClick);
  expect(await state<unknown[]>('ablated')).toEqual([]);
  // The values radio group (WAI-ARIA): the arrows choose the next value and focus it; the
  // step-through stays where it is.
  expect(await state<string>('mode')).toBe('probs');
  await app.page.getByTestId('mode-probs').focus();
  await app.page.keyboard.press('ArrowRight');
  expect(await state<string>('mode')).toBe('scores');
  expect(await focused()).toBe('mode-scores');
  expect(await app.page.getByTestId('mode-scores').getAttribute('tabindex')).toBe('0');
  expect(await app.page.getByTestId('mode-probs').getAttribute('tabindex')).toBe('-1');
  await app.page.keyboard.press('ArrowUp');
  expect(await state<string>('mode')).toBe('probs');
  expect(await stage()).toBe(afterClick);
});

it('writes the typed text in the text colour, not the muted colour of its label', async () => {
  const colours = await app.page.evaluate(() => {
    const colour = (el: Element | null) => (el ? getComputedStyle(el).color : null);
    return {
      input: colour(document.querySelector('[data-testid="token-input"]')),
      label: colour(
        document.querySelector('[data-testid="token-input"]')?.closest('label') ?? null,
      ),
      body: colour(document.body),
    };
  });
  expect(colours.input).toBe(colours.body);
  expect(colours.input).not.toBe(colours.label);
});

it('follows the OS colour scheme while no theme is chosen', async () => {
  await app.page.emulateMedia({ colorScheme: 'dark' });
  await app.page.waitForFunction(() => document.documentElement.dataset.theme === 'dark');
  await app.page.emulateMedia({ colorScheme: 'light' });
  await app.page.waitForFunction(() => document.documentElement.dataset.theme === 'light');
});

it('writes no source text into the link of a decoder-only model', async () => {
  await app.page.waitForFunction(() => location.hash.includes('text='), null, { timeout: 5_000 });
  expect(await app.page.evaluate(() => location.hash)).not.toContain('src=');
});

it('writes chart ticks in plain decimals and keeps x labels inside the chart', async () => {
  await app.page.getByTestId('tab-norms').click();
  await app.page.locator('.line-chart svg .tick text').first().waitFor();
  const ticks = await app.page.evaluate(() =>
    Array.from(document.querySelectorAll('.line-chart svg'), (svg) => {
      const box = svg.getBoundingClientRect();
      return Array.from(svg.querySelectorAll('.tick text'), (t) => {
        const r = t.getBoundingClientRect();
        const inside = r.left >= box.left - 0.5 && r.right <= box.right + 0.5;
        return { text: t.textContent ?? '', inside };
      });
    }).flat(),
  );
  expect(ticks.length).toBeGreaterThan(10);
  for (const t of ticks) {
    expect(t.text).not.toMatch(/\de[+-]\d/);
    expect(t.inside, t.text).toBe(true);
  }
});

it('collapses a repeated notice into one banner with a count', async () => {
  await app.page.evaluate(() => {
    const s = window.__attentionLab!.store!.getState();
    s.notify('error', 'the same failure');
    s.notify('info', 'something else');
    s.notify('error', 'the same failure');
  });
  const banners = app.page.locator('[data-testid="notices"] .notice');
  const same = banners.filter({ hasText: 'the same failure' });
  expect(await same.count()).toBe(1);
  expect(await same.getAttribute('data-count')).toBe('2');
  // Newest first: the repeated error was notified last.
  expect(await banners.first().textContent()).toContain('the same failure');
  await same.getByRole('button', { name: 'dismiss' }).click();
  expect(await banners.filter({ hasText: 'the same failure' }).count()).toBe(0);
});

it('says which backend it chose, not that it fell back', async () => {
  const badge = app.page.getByTestId('backend-badge');
  await app.page.locator('[data-testid="backend-badge"][data-backend]').waitFor();
  expect(await badge.textContent()).not.toContain('fell back');
  if ((await badge.getAttribute('data-backend')) === 'wasm') {
    // This Chromium's WebGL is SwiftShader, a software renderer: wasm is chosen for speed.
    expect(await badge.textContent()).toContain('chose wasm');
    expect(await badge.getAttribute('title')).toContain('software renderer');
  }
});
