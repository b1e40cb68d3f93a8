// phoenix graph page: the detail panel, the filter box and the self-test.
// Everything from the definitions is put on screen with textContent, never as markup.
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('phoenix-data').textContent);
  var panel = document.getElementById('panel');
  var filter = document.getElementById('filter');
  var count = document.getElementById('count');
  var elements = {};
  var selected = null;

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function section(title, items, empty, itemClass) {
    var frag = document.createDocumentFragment();
    frag.appendChild(el('h3', title));
    if (!items.length) {
      frag.appendChild(el('p', empty, 'hint'));
      return frag;
    }
    var ul = el('ul');
    items.forEach(function (item) {
      var li = el('li', item.text !== undefined ? item.text : item);
      if (itemClass && itemClass(item)) li.className = itemClass(item);
      ul.appendChild(li);
    });
    frag.appendChild(ul);
    return frag;
  }

  function show(node) {
    if (selected && elements[selected]) elements[selected].classList.remove('selected');
    selected = node.id;
    if (elements[node.id]) elements[node.id].classList.add('selected');
    panel.textContent = '';
    panel.appendChild(el('h2', node.id + (node.name ? ' ' + node.name : '')));
    panel.appendChild(el('p', node.kind, 'kind'));
    var status = el('p');
    status.appendChild(el('span', node.state || 'unknown', 'state ' + (node.state || '')));
    if (node.action) status.appendChild(document.createTextNode(' a build would: ' + node.action));
    panel.appendChild(status);
    var why = node.action === 'fresh' ? 'nothing changed since its last build' : 'no reasons recorded';
    panel.appendChild(section('Why', node.reasons, why));
    panel.appendChild(section('Steps (bold: a build runs them)', node.steps.map(function (s) {
      return { text: s.step, run: s.run };
    }), 'none', function (s) { return s.run ? 'run' : ''; }));
    panel.appendChild(el('h3', 'Key'));
    panel.appendChild(el('p', node.key || 'not computed', 'key'));
    panel.appendChild(section('Needs', node.needs, 'nothing'));
    panel.appendChild(section('Needed by', node.needed_by, 'nothing'));
    panel.appendChild(el('h3', 'More'));
    panel.appendChild(el('p', 'phoenix explain ' + node.id, 'key'));
  }

  data.nodes.forEach(function (node) {
    var e = document.getElementById('node-' + node.slug);
    if (!e) return;
    elements[node.id] = e;
    e.setAttribute('tabindex', '0');
    e.setAttribute('role', 'button');
    e.addEventListener('click', function (ev) {
      ev.stopPropagation();
      show(node);
    });
    e.addEventListener('keydown', function (ev) {
      if (ev.key === 'Enter' || ev.key === ' ') {
        ev.preventDefault();
        show(node);
      }
    });
  });

  function applyFilter() {
    var q = filter.value.trim().toLowerCase();
    var shown = {};
    var n = 0;
    data.nodes.forEach(function (node) {
      var match = !q || node.id.toLowerCase().indexOf(q) >= 0 ||
        node.name.toLowerCase().indexOf(q) >= 0;
      shown[node.id] = match;
      if (match) n += 1;
      if (elements[node.id]) elements[node.id].classList.toggle('dim', !match);
    });
    data.edges.forEach(function (edge) {
      var e = document.getElementById(edge.id);
      if (e) e.classList.toggle('dim', !(shown[edge.from] && shown[edge.to]));
    });
    count.textContent = q ? n + ' of ' + data.nodes.length + ' nodes' : data.nodes.length + ' nodes';
    return n;
  }
  filter.addEventListener('input', applyFilter);

  if (window.location.hash === '#selftest') {
    var out = document.getElementById('selftest');
    var report = { nodes: data.nodes.length, drawn: document.querySelectorAll('#graph svg g.node').length };
    var target = data.nodes.filter(function (n) { return n.state === 'stale'; })[0] || data.nodes[0];
    if (target && elements[target.id]) {
      elements[target.id].dispatchEvent(new MouseEvent('click', { bubbles: true, cancelable: true }));
      report.clicked = target.id;
      report.panel = panel.textContent;
      filter.value = target.id;
      report.filtered = applyFilter();
      report.dimmed = document.querySelectorAll('#graph g.node.dim').length;
      filter.value = '';
      applyFilter();
    }
    report.errors = window.phoenixErrors || [];
    out.textContent = JSON.stringify(report);
    out.hidden = false;
  }
})();
