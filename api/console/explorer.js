// GraphiQL against this server's /graphql, with the console's session.
(function () {
  const token = sessionStorage.getItem('countersign.token');
  const fetcher = GraphiQL.createFetcher({
    url: '/graphql',
    headers: token ? { Authorization: 'Bearer ' + token } : {},
  });
  ReactDOM.createRoot(document.getElementById('explorer')).render(
    React.createElement(GraphiQL, { fetcher, defaultEditorToolsVisibility: true }),
  );
})();
