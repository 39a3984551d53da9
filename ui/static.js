// The explorer's only script (static, no data in it): citation links open their source, a view opens at its
// top, an "open in document" passage is scrolled into view.
(function () {
  if (window.__kbExplorer) return;
  window.__kbExplorer = true;
  const doc = document;

  function scrollers() {
    return Array.from(doc.querySelectorAll('[data-testid="stMain"], [data-testid="stAppViewContainer"], ' +
      '[data-testid="stAppScrollToBottomContainer"], .main'));
  }

  function openSource(link) {
    const n = link.dataset.n;
    const message = link.closest('[data-testid="stChatMessage"]') || doc;
    const expanders = Array.from(message.querySelectorAll('[data-testid="stExpander"] details'));
    const target = expanders.find(d => {
      const s = d.querySelector('summary');
      const m = s && s.textContent.match(/\[(\d+)\]/);   // the label starts with [n] (after its icon)
      return m && m[1] === n;
    });
    if (!target) return;
    if (!target.open) target.querySelector('summary').click();
    target.scrollIntoView({behavior: 'smooth', block: 'start'});
    target.classList.add('kb-flash');
    setTimeout(() => target.classList.remove('kb-flash'), 1600);
  }

  doc.addEventListener('click', (e) => {
    const link = e.target.closest && e.target.closest('a.kb-cite');
    if (!link) return;
    e.preventDefault();
    e.stopPropagation();
    openSource(link);
  }, true);

  // hover preview: open it towards the side with room
  doc.addEventListener('mouseover', (e) => {
    const link = e.target.closest && e.target.closest('a.kb-cite');
    if (link) link.classList.toggle('kb-left', link.getBoundingClientRect().left > window.innerWidth / 2);
  });

  let view = null;
  new MutationObserver(() => {
    const marker = doc.querySelector('[data-kb-view]');
    if (marker && marker.dataset.kbView !== view) {
      const first = view === null;
      view = marker.dataset.kbView;
      if (!first && view !== 'ask') scrollers().forEach(el => el.scrollTo({top: 0}));
    }
    const focus = doc.querySelector('[data-kb-focus]:not([data-kb-seen])');
    if (focus) {
      focus.dataset.kbSeen = '1';
      setTimeout(() => focus.scrollIntoView({block: 'center'}), 300);
    }
  }).observe(doc.body, {childList: true, subtree: true});
})();
