// Routes the single page by path: / (live), /timeline/<seq>, /viewchanges,
// /profile. The server answers each of these with index.html.
'use strict';

(function () {
  const path = location.pathname;
  let page = 'live';
  const m = path.match(/^\/timeline\/(\d+)$/);
  if (m) page = 'timeline';
  else if (path === '/viewchanges') page = 'viewchanges';
  else if (path === '/profile') page = 'profile';
  document.body.dataset.page = page;
  // The stream badge belongs to the live view.
  if (page !== 'live') document.getElementById('conn').hidden = true;
  document.querySelectorAll('header nav a').forEach((a) => {
    if (a.dataset.nav === page) a.classList.add('active');
  });
  document.getElementById('goto').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = document.getElementById('goto-seq').value.trim();
    if (/^\d+$/.test(v)) location.href = `/timeline/${v}`;
  });
  if (page === 'timeline') {
    document.title = `seq ${m[1]} · resdb-trace`;
    RT.renderTimelinePage(m[1]);
  } else if (page === 'viewchanges') {
    document.title = 'view changes · resdb-trace';
    RT.renderViewChanges();
  } else if (page === 'profile') {
    document.title = 'profile · resdb-trace';
    RT.renderProfile();
  } else {
    new RT.Live().start();
  }
})();
